"""An installed copy of the package (pip install --prefix, no source tree) runs its tools.

The prefix gets the layout colcon and ros2 run expect (ament index marker, share/, lib/),
and every data file the tools read comes from there: the subprocesses run from a temporary
folder with only the prefix on PYTHONPATH, so the source checkout cannot stand in for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from node_fixture_model import build_constant_model

ROOT = Path(__file__).resolve().parents[1]
PKG = "mtl_perception"
# what setup.py reads: the package, its data files and the packaging metadata
SOURCES = ("setup.py", "setup.cfg", "package.xml", "resource", "mtl_perception", "launch",
           "config", "models", "interfaces", "scripts")


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    prefix = work / "prefix"
    # Build from a copy of what setup.py installs: an in-tree build would leave build/ in
    # the checkout, whose stale files a later install would pick up.
    source = work / "source"
    for item in SOURCES:
        if (ROOT / item).is_dir():
            shutil.copytree(ROOT / item, source / item,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / item, source / item)
    result = subprocess.run(
        # --ignore-installed: install beside, never uninstall, the venv's editable copy.
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--ignore-installed", "--disable-pip-version-check", "--prefix", str(prefix),
         str(source)],
        capture_output=True, text=True, cwd=work,
    )
    assert result.returncode == 0, result.stderr
    return prefix


def _site_packages(prefix: Path) -> Path:
    """Where pip --prefix puts pure-Python packages (lib/pythonX.Y/site-packages)."""
    return prefix / Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)


def _env(prefix: Path, ament: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(_site_packages(prefix))
    env["PATH"] = os.pathsep.join([str(prefix / "bin"), str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    if ament:
        env["AMENT_PREFIX_PATH"] = str(prefix)
    else:
        env.pop("AMENT_PREFIX_PATH", None)
    return env


def _run(prefix: Path, args: list[str], cwd: Path, ament: bool = True,
         timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=_env(prefix, ament),
                          timeout=timeout)


def test_prefix_has_the_ament_layout(prefix: Path) -> None:
    share = prefix / "share"
    assert (share / "ament_index/resource_index/packages" / PKG).is_file()
    for rel in ("package.xml", "launch/perception.launch.py", "config/perception.yaml",
                "config/fastdds_profile.xml", "config/fastdds2_profile.xml",
                "config/models/mobilenetv2_bifpn.yaml",
                "models/demo/model.onnx", "interfaces/vision_msgs/msg/Detection2DArray.msg"):
        assert (share / PKG / rel).is_file(), rel
    launcher = prefix / "lib" / PKG / "perception_node"
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    assert (prefix / "bin/perception_node").is_file()


@pytest.mark.parametrize("ament", [True, False], ids=["ament-index", "no-ament-index"])
def test_installed_copy_finds_its_data_not_the_source_tree(prefix: Path, tmp_path: Path,
                                                           ament: bool) -> None:
    code = ("import mtl_perception, mtl_perception.common.package_data as d; "
            "print(mtl_perception.__file__); print(d.share_dir())")
    out = _run(prefix, [sys.executable, "-c", code], tmp_path, ament)
    assert out.returncode == 0, out.stderr
    module_file, share = out.stdout.split()
    assert Path(module_file).is_relative_to(prefix), module_file
    assert Path(share).resolve() == (prefix / "share" / PKG).resolve()


def test_bdd2bag_writes_a_bag_from_an_image_folder(prefix: Path, tmp_path: Path) -> None:
    pytest.importorskip("rosbags")
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        picture = np.full((72, 128, 3), 40 * i, np.uint8)
        cv2.imwrite(str(images / f"frame_{i:03d}.png"), picture)
    out = _run(prefix, ["mtl-bdd2bag", str(images), "--out", str(tmp_path / "bag"), "--no-progress",
                        "--rate", "10"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "3 frames" in out.stdout
    assert (tmp_path / "bag" / "metadata.yaml").is_file()
    # mtl-offline reads it back through the installed copy's pipeline
    model = build_constant_model(tmp_path / "model.onnx", input_hw=(64, 128))
    out = _run(prefix, ["mtl-offline", str(tmp_path / "bag"), "--model", str(model), "--out",
                        str(tmp_path / "offline"), "--no-progress", "--no-video"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "3 frames" in out.stdout
    assert (tmp_path / "offline" / "predictions.json").is_file()


def test_demo_help_runs(prefix: Path, tmp_path: Path) -> None:
    out = _run(prefix, ["mtl-demo", "--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mtl-demo" in out.stdout


def test_node_starts_from_the_prefix_and_stops_cleanly(prefix: Path, tmp_path: Path) -> None:
    pytest.importorskip("rclpy")
    model = build_constant_model(tmp_path / "model.onnx")
    node = subprocess.Popen(
        [str(prefix / "lib" / PKG / "perception_node"), "--ros-args", "-p",
         f"model_path:={model}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env=_env(prefix))
    lines = []
    deadline = time.monotonic() + 60
    try:
        assert node.stdout is not None
        while time.monotonic() < deadline:
            line = node.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "listening on" in line:
                break
        assert any("listening on" in line for line in lines), "".join(lines)
        node.send_signal(signal.SIGINT)
        rest, _ = node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, "".join(lines) + rest
    assert "Traceback" not in rest
