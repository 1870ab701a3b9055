"""Finding TensorRT and pycuda, and saying in one line what is missing when they are absent.

Both are imported lazily: the inference core must import on machines without a GPU (CI,
laptops), and only the TensorRT backend and ``mtl-build-engine`` need them.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from mtl_perception.inference.backends.base import BackendError

INSTALL_HINT = (
    "on a Jetson install JetPack's TensorRT Python bindings (sudo apt install "
    "python3-libnvinfer) and pycuda (export PATH=/usr/local/cuda/bin:$PATH; "
    "pip install pycuda); see docs/deployment.md"
)


def parse_version(version: str) -> tuple[int, int, int]:
    """``"8.5.2.2"`` -> ``(8, 5, 2)``; raises ValueError on anything without a major.minor."""
    match = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not match:
        raise ValueError(f"cannot parse TensorRT version {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def uses_tensor_api(version: str) -> bool:
    """TensorRT 10 removed the bindings API; 8.5/8.6 (JetPack 5) run the bindings path.

    8.5 already has the name-based tensor API, but its bindings path is the one JetPack 5
    users have run for years, so the switch is made where the old API disappears.
    """
    return parse_version(version)[0] >= 10


def needs_explicit_batch_flag(version: str) -> bool:
    """TensorRT 8 networks must be created with EXPLICIT_BATCH; TensorRT 10 ignores the flag."""
    return parse_version(version)[0] < 10


def _load_tensorrt() -> tuple[ModuleType | None, str]:
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        return None, f"TensorRT Python bindings not found ({exc})"
    except OSError as exc:  # libnvinfer.so present but unloadable
        return None, f"TensorRT libraries failed to load ({exc})"
    # tensorrt-stubs installs a bare `tensorrt/` directory of .pyi files: it imports as an empty
    # namespace package, so check for the real API rather than trusting the import.
    if not hasattr(trt, "Builder") or not hasattr(trt, "__version__"):
        return None, "TensorRT Python bindings not found (only type stubs are installed)"
    try:
        parse_version(str(trt.__version__))
    except ValueError as exc:
        return None, str(exc)
    return trt, ""


def _load_cuda() -> tuple[ModuleType | None, str]:
    try:
        cuda = importlib.import_module("pycuda.driver")
    except ImportError as exc:
        return None, f"pycuda not found ({exc})"
    try:
        cuda.init()
        count = int(cuda.Device.count())
    except Exception as exc:  # pycuda raises its own LogicError/RuntimeError types
        return None, f"CUDA driver not usable ({str(exc).strip() or type(exc).__name__})"
    if count < 1:
        return None, "no CUDA device found"
    return cuda, ""


def tensorrt_available() -> tuple[bool, str]:
    """``(True, "TensorRT x.y on <GPU>")`` or ``(False, one-line reason + install hint)``."""
    trt, why = _load_tensorrt()
    if trt is None:
        return False, f"{why}; {INSTALL_HINT}"
    cuda, why = _load_cuda()
    if cuda is None:
        return False, f"{why}; {INSTALL_HINT}"
    return True, f"TensorRT {trt.__version__} on {cuda.Device(0).name()}"


def require_tensorrt() -> str:
    """Check that the real TensorRT bindings import; return their version.

    Callers then ``import tensorrt as trt`` locally, so mypy checks their use of the API
    against tensorrt-stubs. Raises BackendError with the install hint otherwise.
    """
    trt, why = _load_tensorrt()
    if trt is None:
        raise BackendError(f"{why}; {INSTALL_HINT}")
    return str(trt.__version__)


def require_cuda() -> None:
    """Check that pycuda imports and sees a GPU (``cuda.init()`` done), else BackendError."""
    cuda, why = _load_cuda()
    if cuda is None:
        raise BackendError(f"{why}; {INSTALL_HINT}")
