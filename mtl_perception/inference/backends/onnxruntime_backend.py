"""ONNX Runtime backend: TensorRT, CUDA or CPU execution provider, whichever is allowed and present.

The model's ModelSpec is read from the session's custom metadata, so no ``onnx`` import is
needed at run time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_perception.inference.backends.base import Backend, BackendError, RawOutputs
from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec, ModelSpecError

# Preference order; the first allowed and available one is used (ORT falls back in order).
PREFERRED_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
SHORT_NAMES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
               "cpu": "CPUExecutionProvider"}


def choose_providers(allowed: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Allowed providers (short or full names) that are available, in preference order."""
    wanted = PREFERRED_PROVIDERS if not allowed else tuple(SHORT_NAMES.get(a.lower(), a)
                                                           for a in allowed)
    chosen = [p for p in PREFERRED_PROVIDERS if p in wanted and p in available]
    if not chosen:
        raise BackendError(
            f"none of the allowed ONNX Runtime providers {list(wanted)} is available "
            f"(available: {list(available)})"
        )
    return chosen


# A dynamic batch dimension has no upper bound in ONNX; the node never batches more frames
# than it has cameras, and this caps a caller that asks for more.
DYNAMIC_MAX_BATCH = 64

# Thread-pool spin-waiting: only while run() executes (default), ORT's own default of
# spinning on after it, or never.
SPINNING_MODES = ("run", "always", "never")

def session_options(intra_op_threads: int = 0, spinning: str = "run") -> Any:
    """The node's ONNX Runtime session options; benchmarks time models with these too."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if intra_op_threads > 0:
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3
    if spinning not in SPINNING_MODES:
        raise BackendError(f"ONNX Runtime spinning must be one of {SPINNING_MODES}, "
                           f"got {spinning!r}")
    # Pool threads that keep spinning after run() returns burn the cores the node needs
    # for publishing right then; "run" stops them when run() returns (docs/benchmarks.md).
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "0" if spinning == "never" else "1")
    options.add_session_config_entry("session.force_spinning_stop",
                                     "1" if spinning == "run" else "0")
    return options


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class OnnxRuntimeBackend(Backend):
    """Runs an exported model with onnxruntime; validates its I/O against the ModelSpec."""

    name = "onnxruntime"
    thread_safe = True  # InferenceSession.run may be called concurrently

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 0,
        logger: Any = None,
        spinning: str = "run",
    ) -> None:
        log = logger or logging.getLogger(__name__)
        path = os.fspath(model_path)
        if not path:
            raise BackendError("no model file given (set model_path)")
        if not os.path.isfile(path):
            raise BackendError(f"model file not found: {path}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError("onnxruntime is not installed (pip install onnxruntime)") from exc
        chosen = choose_providers(providers, ort.get_available_providers())
        options = session_options(intra_op_threads, spinning)
        try:
            self._session = ort.InferenceSession(path, sess_options=options, providers=chosen)
        except Exception as exc:  # ORT raises several private exception types
            raise BackendError(f"cannot load {path} as an ONNX model: {_one_line(exc)}") from exc
        metadata = self._session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            raise BackendError(
                f"{path} has no '{METADATA_KEY}' metadata; export it with mtl-export "
                "(the node needs the model's input size and class names)"
            )
        try:
            self._spec = ModelSpec.from_json(metadata[METADATA_KEY])
        except ModelSpecError as exc:
            raise BackendError(f"{path}: {exc}") from exc
        self._check_io(path)
        self._outputs = [self._spec.boxes_output, self._spec.scores_output,
                         self._spec.drivable_output, self._spec.lane_output]
        self.providers = self._session.get_providers()
        batch_dim = next(i.shape[0] for i in self._session.get_inputs()
                         if i.name == self._spec.input_name)
        # a symbolic ('batch') or unknown (None) first dimension: mtl-export --dynamic
        self._max_batch = 1 if isinstance(batch_dim, int) else DYNAMIC_MAX_BATCH
        log.info(f"onnxruntime {ort.__version__}: {path} on {self.providers[0]}"
                 f"{', dynamic batch' if self._max_batch > 1 else ''}")

    def _check_io(self, path: str) -> None:
        spec = self._spec
        inputs = {i.name: i for i in self._session.get_inputs()}
        if spec.input_name not in inputs:
            raise BackendError(f"{path}: no input named {spec.input_name!r} (has {list(inputs)})")
        node = inputs[spec.input_name]
        if node.type != "tensor(uint8)":
            raise BackendError(f"{path}: input {node.name} is {node.type}, expected uint8")
        shape = list(node.shape)
        want = [spec.input_height, spec.input_width, 3]
        if len(shape) != 4 or any(isinstance(s, int) and s != w for s, w in zip(shape[1:], want)):
            raise BackendError(f"{path}: input shape {shape} does not match metadata [N, {want}]")
        outputs = {o.name for o in self._session.get_outputs()}
        missing = {spec.boxes_output, spec.scores_output, spec.drivable_output,
                   spec.lane_output} - outputs
        if missing:
            raise BackendError(f"{path}: outputs {sorted(missing)} missing (has {sorted(outputs)})")

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def max_batch(self) -> int:
        return self._max_batch

    def _check_input(self, image: np.ndarray) -> None:
        expected = (self._spec.input_height, self._spec.input_width, 3)
        if image.shape != expected or image.dtype != np.uint8:
            raise BackendError(f"input must be uint8 {expected}, got {image.dtype} {image.shape}")

    def run(self, image: np.ndarray) -> RawOutputs:
        self._check_input(image)
        return self._run(image[None])[0]

    def run_batch(self, images: Sequence[np.ndarray]) -> list[RawOutputs]:
        """One forward pass for the whole batch when the model's batch is dynamic."""
        if len(images) <= 1 or self._max_batch == 1:
            return [self.run(image) for image in images]
        if len(images) > self._max_batch:
            raise BackendError(f"batch of {len(images)} exceeds {self._max_batch}")
        for image in images:
            self._check_input(image)
        return self._run(np.stack(images))

    def _run(self, batch: np.ndarray) -> list[RawOutputs]:
        boxes, scores, drivable, lane = self._session.run(
            self._outputs, {self._spec.input_name: batch}
        )
        n = len(batch)
        if len(boxes) != n or len(drivable) != n:
            raise BackendError(f"model returned {len(boxes)} results for a batch of {n}")
        return [
            RawOutputs(
                boxes=np.asarray(boxes[i], dtype=np.float32),
                scores=np.asarray(scores[i], dtype=np.float32),
                drivable=np.asarray(drivable[i], dtype=np.uint8),
                lane=np.asarray(lane[i], dtype=np.uint8),
            )
            for i in range(n)
        ]

    def close(self) -> None:
        self.__dict__.pop("_session", None)
