"""The runtime never loads torch, and a workstation command without its extra says so in a line.

The node installs without torch (a Jetson needs none), so importing the node and the
inference core must not pull it in, whatever is installed. In the Jazzy and JetPack 5 lanes
torch is genuinely absent; elsewhere ``sys.modules["torch"] = None`` makes Python treat it as
missing (an import of it then raises ModuleNotFoundError).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

RUNTIME_MODULES = [
    "mtl_perception.inference.pipeline",
    "mtl_perception.inference.backends.onnxruntime_backend",
    "mtl_perception.inference.backends.tensorrt.backend",
    "mtl_perception.inference.overlay",
    "mtl_perception.common.package_data",
    "mtl_perception.ros.dds_env",
]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_runtime_imports_no_torch() -> None:
    modules = list(RUNTIME_MODULES)
    try:
        import rclpy  # noqa: F401
        modules.append("mtl_perception.ros.perception_node")
    except ImportError:
        pass
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'torchvision', 'onnx'))\n"
            "print(heavy)\n")
    run = _run(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", run.stdout


@pytest.mark.parametrize(("command", "blocked", "extra"), [
    ("mtl_train", "torch", "training"),
    ("mtl_export", "torch", "training"),
    ("mtl_bdd2bag", "rosbags", "tools"),
])
def test_command_without_its_extra_names_it_in_one_line(command: str, blocked: str,
                                                        extra: str) -> None:
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            f"from mtl_perception.cli.entry_points import {command}\n"
            f"sys.argv = [{command!r}, '--help']\n"
            f"sys.exit({command}())\n")
    run = _run(code)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert f"'{extra}' extra" in lines[0] and f"mtl_perception[{extra}]" in lines[0]
    assert "Traceback" not in run.stderr
