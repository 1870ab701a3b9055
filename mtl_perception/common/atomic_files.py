"""Files that are either the old version or the complete new one, never half written.

Why: a node starting up may read a model, an engine or a checkpoint while another process
writes it; writing to a temp file beside the target and renaming it over makes the switch
atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, read in chunks so large models don't need to fit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Any]:
    """Yield a temp file next to ``path``; on success fsync and rename it over ``path``.

    A reader (another node starting up) sees either the old file or the complete new one,
    never a half-written engine.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; model files and engines are meant to be shared (other users,
        # a node running as another account), so give them ordinary file permissions.
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_target(Path(path)) as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
