"""Host/device buffer planning for an engine's I/O tensors (pure numpy, no GPU).

The TensorRT backend allocates every buffer once, at load time, from this plan; checking the
engine's tensors against the model's :class:`ModelSpec` here turns a mismatched engine into
one clear error at start-up instead of garbage (or a crash) on the first frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mtl_perception.inference.backends.base import BackendError, RawOutputs
from mtl_perception.inference.model_spec import ModelSpec

# TensorRT DataType member names -> numpy dtypes (BF16/FP8/INT4 have no numpy equivalent).
TRT_TO_NUMPY: dict[str, np.dtype] = {
    "FLOAT": np.dtype(np.float32),
    "HALF": np.dtype(np.float16),
    "INT8": np.dtype(np.int8),
    "UINT8": np.dtype(np.uint8),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "BOOL": np.dtype(np.bool_),
}


class DimsLike(Protocol):
    """``trt.Dims``: indexable and sized (iterable at run time, but not in the stubs)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> int: ...


def shape_tuple(dims: DimsLike) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


def numpy_dtype(trt_name: str) -> np.dtype:
    """Map a TensorRT dtype name (``DataType.HALF`` or ``HALF``) to numpy."""
    name = trt_name.rsplit(".", 1)[-1].upper()
    if name not in TRT_TO_NUMPY:
        raise BackendError(f"engine uses tensor type {name}, which has no numpy equivalent")
    return TRT_TO_NUMPY[name]


@dataclass(frozen=True)
class TensorInfo:
    """One engine I/O tensor as TensorRT reports it; -1 marks a dynamic dimension."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    is_input: bool


@dataclass(frozen=True)
class BufferPlan:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    is_input: bool

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class IOPlan:
    """Concrete buffers for one batch size, in the engine's tensor order."""

    buffers: tuple[BufferPlan, ...]

    @property
    def inputs(self) -> tuple[BufferPlan, ...]:
        return tuple(b for b in self.buffers if b.is_input)

    @property
    def outputs(self) -> tuple[BufferPlan, ...]:
        return tuple(b for b in self.buffers if not b.is_input)

    def __getitem__(self, name: str) -> BufferPlan:
        for buf in self.buffers:
            if buf.name == name:
                return buf
        raise KeyError(name)

    @property
    def device_bytes(self) -> int:
        return sum(b.nbytes for b in self.buffers)


def resolve_shape(shape: Iterable[int], batch: int) -> tuple[int, ...]:
    """Fill a dynamic batch dimension; any other dynamic dimension is unsupported."""
    dims = tuple(int(d) for d in shape)
    if not dims:
        raise BackendError("engine tensor has no dimensions")
    if dims[0] < 0:
        dims = (batch, *dims[1:])
    if any(d < 0 for d in dims[1:]):
        raise BackendError(
            f"engine tensor shape {dims} has a dynamic non-batch dimension; "
            "export with a fixed resolution"
        )
    return dims


def _expect(ok: bool, msg: str) -> None:
    if not ok:
        raise BackendError(f"engine does not match its model metadata: {msg}")


def plan_buffers(tensors: Iterable[TensorInfo], spec: ModelSpec, batch: int = 1) -> IOPlan:
    """Check the engine's tensors against ``spec`` and size one buffer per tensor."""
    infos = list(tensors)
    by_name = {t.name: t for t in infos}
    h, w, n_cls = spec.input_height, spec.input_width, len(spec.detection_classes)
    expected: dict[str, tuple[bool, np.dtype]] = {
        spec.input_name: (True, np.dtype(np.uint8)),
        spec.boxes_output: (False, np.dtype(np.float32)),
        spec.scores_output: (False, np.dtype(np.float32)),
        spec.drivable_output: (False, np.dtype(np.uint8)),
        spec.lane_output: (False, np.dtype(np.uint8)),
    }
    missing = [name for name in expected if name not in by_name]
    _expect(not missing, f"missing tensors {missing}; engine has {sorted(by_name)}")
    plans = []
    for info in infos:
        dtype = numpy_dtype(info.dtype)
        shape = resolve_shape(info.shape, batch)
        if info.name in expected:
            is_input, want = expected[info.name]
            _expect(info.is_input == is_input, f"{info.name} has the wrong direction")
            _expect(dtype == want, f"{info.name} is {dtype}, expected {want}")
        plans.append(BufferPlan(info.name, shape, dtype, info.is_input))
    plan = IOPlan(tuple(plans))
    _expect(plan[spec.input_name].shape == (batch, h, w, 3),
            f"input {plan[spec.input_name].shape}, expected {(batch, h, w, 3)}")
    boxes, scores = plan[spec.boxes_output].shape, plan[spec.scores_output].shape
    _expect(len(boxes) == 3 and boxes[0] == batch and boxes[2] == 4, f"boxes shape {boxes}")
    _expect(scores == (batch, boxes[1], n_cls),
            f"scores shape {scores}, expected {(batch, boxes[1], n_cls)}")
    for name in (spec.drivable_output, spec.lane_output):
        _expect(plan[name].shape == (batch, h, w), f"{name} shape {plan[name].shape}")
    return plan


def raw_outputs(host: Mapping[str, np.ndarray], spec: ModelSpec, index: int = 0) -> RawOutputs:
    """Pick one image's outputs out of the batched host buffers (views, no copies)."""
    return RawOutputs(
        boxes=host[spec.boxes_output][index],
        scores=host[spec.scores_output][index],
        drivable=host[spec.drivable_output][index],
        lane=host[spec.lane_output][index],
    )
