"""Startup failures: one line naming the reason on stderr, and a non-zero exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from node_fixture_model import build_constant_model

pytestmark = pytest.mark.ros
FIXTURES = Path(__file__).resolve().parents[1]  # the shared node fixtures live in test/
NODE_SCRIPT = Path(sys.executable).with_name("perception_node")


def _start(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _reason(result: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("[perception_node]")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("case", ["missing", "corrupt", "no_metadata", "bad_backend"])
def test_bad_model_stops_startup(tmp_path: Path, case: str) -> None:
    model = tmp_path / "model.onnx"
    backend = "onnxruntime"
    if case == "corrupt":
        model.write_bytes(b"\x08\x01garbage" * 100)
    elif case == "no_metadata":
        build_constant_model(model, with_metadata=False)
    elif case == "bad_backend":
        build_constant_model(model)
        backend = "openvino"
    result = _start([str(NODE_SCRIPT), "--ros-args", "-p", f"model_path:={model}",
                     "-p", f"backend:={backend}"])
    assert result.returncode == 1
    expected = {"missing": "model file not found", "corrupt": "cannot load",
                "no_metadata": "no 'mtl_perception' metadata",
                "bad_backend": "backend='openvino' is not one of"}[case]
    assert expected in _reason(result)
    assert "Traceback" not in result.stderr


def test_foxy_vision_msgs_layout_stops_startup(tmp_path: Path) -> None:
    model = build_constant_model(tmp_path / "model.onnx")
    result = _start([sys.executable, str(FIXTURES / "node_fixture_foxy.py"), "--ros-args",
                     "-p", f"model_path:={model}"])
    assert result.returncode == 1
    assert "Foxy/Galactic layout" in _reason(result)


@pytest.mark.parametrize("param,value,expected", [
    ("onnxruntime_threads", "two", "onnxruntime_threads"),
    ("onnxruntime_spinning", "false", "onnxruntime_spinning"),  # a bool for a string
    ("onnxruntime_spinning", "sometimes", "onnxruntime_spinning='sometimes' is not one of"),
])
def test_badly_typed_or_unknown_parameter_value_stops_startup(
        tmp_path: Path, param: str, value: str, expected: str) -> None:
    model = build_constant_model(tmp_path / "model.onnx")
    result = _start([str(NODE_SCRIPT), "--ros-args", "-p", f"model_path:={model}",
                     "-p", "backend:=onnxruntime", "-p", f"{param}:={value}"])
    assert result.returncode == 1
    assert expected in _reason(result)
    assert "Traceback" not in result.stderr
