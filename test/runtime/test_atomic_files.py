"""Atomic writes: a reader sees the old file or the complete new one, never a part."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mtl_perception.common.atomic_files import (
    atomic_target,
    atomic_write_bytes,
    atomic_write_text,
    file_sha256,
)


def test_failed_atomic_write_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"good")
    with pytest.raises(RuntimeError), atomic_target(target) as handle:
        handle.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_written_file_is_complete_and_shareable(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.json"
    atomic_write_text(target, "{}\n" * 1000)
    assert target.read_text() == "{}\n" * 1000
    assert target.stat().st_mode & 0o777 == 0o644
    assert file_sha256(target) == hashlib.sha256(target.read_bytes()).hexdigest()
