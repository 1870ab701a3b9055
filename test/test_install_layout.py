"""`pip install .` must give the layout that ros2 run and launch_ros expect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_puts_ament_files_in_place(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    result = subprocess.run(
        # --ignore-installed: install beside, never uninstall, the venv's editable copy.
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--ignore-installed",
         "--disable-pip-version-check", "--prefix", str(prefix), str(ROOT)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    share = prefix / "share"
    assert (share / "ament_index/resource_index/packages/mtl_perception").is_file()
    assert (share / "mtl_perception/package.xml").is_file()
    assert (share / "mtl_perception/launch/perception.launch.py").is_file()
    assert (share / "mtl_perception/config/perception.yaml").is_file()
    assert (share / "mtl_perception/config/fastdds_profile.xml").is_file()
    launcher = prefix / "lib/mtl_perception/perception_node"
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    assert (prefix / "bin/perception_node").is_file()
