"""What the TensorRT backend does on a machine without TensorRT/CUDA, and version routing.

The GPU path itself cannot run here (no TensorRT, no CUDA driver); these tests cover what
does: the one-line message, the import guards, and the API choice by version.
"""

from __future__ import annotations

import importlib.util

import pytest

from mtl_perception.inference.backends.base import BackendError
from mtl_perception.inference.backends.tensorrt.env import (
    needs_explicit_batch_flag,
    parse_version,
    uses_tensor_api,
)


def _real_tensorrt_installed() -> bool:
    spec = importlib.util.find_spec("tensorrt")
    return spec is not None and spec.origin not in (None, "namespace")


no_trt = pytest.mark.skipif(_real_tensorrt_installed(), reason="real TensorRT is installed")


def test_module_imports_without_tensorrt() -> None:
    from mtl_perception.inference.backends.tensorrt import backend as tensorrt_backend
    assert tensorrt_backend.TensorRTBackend.name == "tensorrt"


@no_trt
def test_tensorrt_available_says_what_is_missing_in_one_line() -> None:
    from mtl_perception.inference.backends.tensorrt.backend import tensorrt_available

    ok, message = tensorrt_available()
    assert not ok
    assert "\n" not in message
    assert "TensorRT Python bindings not found" in message
    assert "python3-libnvinfer" in message and "pip install pycuda" in message


@no_trt
def test_stub_only_tensorrt_is_not_mistaken_for_the_real_one() -> None:
    # tensorrt-stubs (installed for mypy) makes `import tensorrt` succeed as an empty
    # namespace package; availability must still be False.
    tensorrt = pytest.importorskip("tensorrt", reason="tensorrt-stubs are not installed here")

    assert not hasattr(tensorrt, "Builder")
    from mtl_perception.inference.backends.tensorrt.env import tensorrt_available

    ok, message = tensorrt_available()
    assert not ok and "only type stubs" in message


@no_trt
def test_constructing_backend_raises_backend_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mtl_perception.inference.backends.tensorrt.backend import TensorRTBackend

    with pytest.raises(BackendError, match="python3-libnvinfer") as info:
        TensorRTBackend(tmp_path / "model.onnx")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("version", "parsed", "tensor_api", "explicit_flag"),
    [
        ("8.5.2.2", (8, 5, 2), False, True),  # JetPack 5.1.x
        ("8.6.1", (8, 6, 1), False, True),
        ("10.3.0", (10, 3, 0), True, False),  # JetPack 6.1
        ("10.13.0.35", (10, 13, 0), True, False),
    ],
)
def test_api_chosen_by_version(
    version: str, parsed: tuple[int, int, int], tensor_api: bool, explicit_flag: bool
) -> None:
    assert parse_version(version) == parsed
    assert uses_tensor_api(version) is tensor_api
    assert needs_explicit_batch_flag(version) is explicit_flag


def test_unparseable_version_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot parse"):
        parse_version("unknown")
