"""Backend factory: ``load_backend(path, "auto" | "onnxruntime" | "tensorrt")``.

``auto`` prefers TensorRT when it is importable and a GPU is present, else ONNX Runtime, and
logs its choice and why. The TensorRT module is imported lazily: where it (or TensorRT
itself) is missing, TensorRT simply counts as unavailable.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from typing import Any

from mtl_perception.inference.backends.base import Backend, BackendError, RawOutputs

BACKENDS = ("auto", "onnxruntime", "tensorrt")
__all__ = ["BACKENDS", "Backend", "BackendError", "RawOutputs", "load_backend",
           "tensorrt_status"]


def tensorrt_status() -> tuple[bool, str]:
    """(usable, why): whether the TensorRT backend can run here."""
    try:
        module = importlib.import_module("mtl_perception.inference.backends.tensorrt.backend")
    except ImportError as exc:
        return False, f"TensorRT backend not importable ({exc})"
    try:
        ok, why = module.tensorrt_available()
    except Exception as exc:  # a broken install must not stop ONNX Runtime from serving
        return False, f"TensorRT check failed: {exc}"
    return bool(ok), str(why)


def load_backend(
    model_path: str | os.PathLike[str],
    backend: str = "auto",
    logger: Any = None,
    cache_dir: str | None = None,
    precision: str = "fp16",
    providers: Sequence[str] | None = None,
    intra_op_threads: int = 0,
    onnxruntime_spinning: str = "run",
    max_batch: int = 1,
) -> Backend:
    """Create the requested backend; raises BackendError with a one-line reason.

    ``max_batch``: the largest batch a TensorRT engine built from a dynamic-batch ONNX file
    must accept (its optimization profile); ONNX Runtime takes any batch such a file allows.
    """
    log = logger or logging.getLogger(__name__)
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        ok, why = tensorrt_status()
        backend = "tensorrt" if ok else "onnxruntime"
        log.info(f"backend auto -> {backend} ({why})")
    if backend == "tensorrt":
        try:
            module = importlib.import_module("mtl_perception.inference.backends.tensorrt.backend")
        except ImportError as exc:
            raise BackendError(f"the TensorRT backend is not available: {exc}") from exc
        return module.TensorRTBackend(model_path, cache_dir=cache_dir, precision=precision,
                                      logger=log, max_batch=max_batch)
    from mtl_perception.inference.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model_path, providers=providers,
                              intra_op_threads=intra_op_threads, logger=log,
                              spinning=onnxruntime_spinning)
