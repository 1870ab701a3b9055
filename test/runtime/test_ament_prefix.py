"""The test environment is an ament prefix: what `ros2 run` and `ros2 launch` look up is there.

`make setup` and the Jazzy lane lay their venvs out like colcon's --symlink-install, so with
AMENT_PREFIX_PATH at the venv, ros2cli finds the package's share/ folder (launch files,
config) and its executables under lib/mtl_perception/. ros2cli itself is not on PyPI, so this
resolves the same names through ament_index_python, the library ros2cli uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

packages = pytest.importorskip("ament_index_python.packages")

PKG = "mtl_perception"
PREFIX = Path(sys.prefix)
if not (PREFIX / "share/ament_index/resource_index/packages" / PKG).is_file():
    pytest.skip(f"{PREFIX} holds no ament index entry for {PKG} (not a make-setup venv)",
                allow_module_level=True)


@pytest.fixture
def ament_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(PREFIX))
    return dict(os.environ)


def test_ament_index_finds_the_package(ament_env: dict[str, str]) -> None:
    assert Path(packages.get_package_prefix(PKG)) == PREFIX
    share = Path(packages.get_package_share_directory(PKG))
    for rel in ("package.xml", "launch/perception.launch.py", "config/perception.yaml"):
        assert (share / rel).is_file(), rel


def test_ros2_run_executable_runs(ament_env: dict[str, str], tmp_path: Path) -> None:
    """`ros2 run mtl_perception perception_node` runs <prefix>/lib/mtl_perception/..."""
    exe = Path(packages.get_package_prefix(PKG)) / "lib" / PKG / "perception_node"
    assert exe.is_file() and os.access(exe, os.X_OK)
    pytest.importorskip("rclpy")
    missing = tmp_path / "missing.onnx"
    run = subprocess.run([str(exe), "--ros-args", "-p", f"model_path:={missing}"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env=ament_env)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if "cannot start" in line]
    assert len(errors) == 1 and str(missing) in errors[0], run.stderr
    assert "Traceback" not in run.stderr
