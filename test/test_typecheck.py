"""mypy over the TensorRT/pycuda code: the GPU path cannot run here, so types are its net."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_passes_on_configured_files(tmp_path: Path) -> None:
    if not (ROOT / "typings/tensorrt_bindings/tensorrt.pyi").is_file():
        pytest.skip("tensorrt stubs not prepared; run `make setup`")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy_cache")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
