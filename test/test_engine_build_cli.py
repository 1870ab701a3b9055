"""mtl-build-engine where TensorRT is absent (every CI machine): a one-line, actionable stop."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mtl_perception.common.cli_args import run_cli
from mtl_perception.deploy import build_engine


def _real_tensorrt() -> bool:
    spec = importlib.util.find_spec("tensorrt")
    return spec is not None and spec.origin not in (None, "namespace")


@pytest.mark.skipif(_real_tensorrt(), reason="real TensorRT installed")
def test_without_tensorrt_stops_with_install_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    code = run_cli("mtl-build-engine", build_engine.main,
                   ["--model", str(model), "--precision", "fp16",
                    "--cache-dir", str(tmp_path / "cache")])
    assert code == 1  # a runtime error, like every command's (2 is for bad arguments)
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("mtl-build-engine: cannot build here: TensorRT")
    assert "python3-libnvinfer" in err and "pip install pycuda" in err
    assert not (tmp_path / "cache").exists(), "nothing may be written when nothing was built"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--precision", "fp32", "--dla", "0"], "DLA runs fp16 or int8"),
        (["--precision", "fp16", "--calib", "frames/"], "--calib only applies"),
    ],
)
def test_argument_errors(argv: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_engine.parse_args(["--model", "m.onnx", *argv])
    assert match in capsys.readouterr().err
