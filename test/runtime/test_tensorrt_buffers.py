"""Output-buffer planning from engine tensor shapes and dtypes (no GPU needed)."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_perception.inference.backends.base import BackendError
from mtl_perception.inference.backends.tensorrt.buffers import (
    TensorInfo,
    numpy_dtype,
    plan_buffers,
    raw_outputs,
    resolve_shape,
    shape_tuple,
)
from mtl_perception.inference.model_spec import ModelSpec

SPEC = ModelSpec(input_height=64, input_width=96, detection_classes=("a", "b", "c"))
A = 3 * (8 * 12 + 4 * 6 + 2 * 3)  # anchors over three strides at 64x96


def tensors(batch: int = 1, **override: TensorInfo) -> list[TensorInfo]:
    infos = {
        "image": TensorInfo("image", (batch, 64, 96, 3), "DataType.UINT8", True),
        "boxes": TensorInfo("boxes", (batch, A, 4), "DataType.FLOAT", False),
        "scores": TensorInfo("scores", (batch, A, 3), "DataType.FLOAT", False),
        "drivable": TensorInfo("drivable", (batch, 64, 96), "DataType.UINT8", False),
        "lane": TensorInfo("lane", (batch, 64, 96), "UINT8", False),
    }
    infos.update(override)
    return list(infos.values())


def test_plan_sizes_every_buffer_from_shape_and_dtype() -> None:
    plan = plan_buffers(tensors(), SPEC)
    assert [b.name for b in plan.inputs] == ["image"]
    assert plan["image"].nbytes == 64 * 96 * 3
    assert plan["boxes"].nbytes == A * 4 * 4
    assert plan["scores"].nbytes == A * 3 * 4
    assert plan["lane"].dtype == np.uint8 and plan["lane"].nbytes == 64 * 96
    assert plan.device_bytes == sum(b.nbytes for b in plan.buffers)


def test_dynamic_batch_resolves_to_requested_batch() -> None:
    plan = plan_buffers(tensors(batch=-1), SPEC, batch=2)
    assert plan["image"].shape == (2, 64, 96, 3)
    assert plan["scores"].shape == (2, A, 3)
    assert plan["scores"].nbytes == 2 * A * 3 * 4


def test_dynamic_spatial_dim_is_rejected() -> None:
    with pytest.raises(BackendError, match="dynamic non-batch"):
        resolve_shape((1, -1, 96, 3), 1)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"lane": TensorInfo("lane", (1, 64, 96), "INT32", False)}, "lane is int32"),
        ({"scores": TensorInfo("scores", (1, A, 10), "FLOAT", False)}, "scores shape"),
        ({"image": TensorInfo("image", (1, 3, 64, 96), "UINT8", True)}, "input"),
        ({"image": TensorInfo("image", (1, 64, 96, 3), "FLOAT", True)}, "image is float32"),
        ({"boxes": TensorInfo("boxes", (1, A, 4), "FLOAT", True)}, "wrong direction"),
    ],
)
def test_mismatched_engine_is_rejected_with_reason(override: dict, match: str) -> None:
    with pytest.raises(BackendError, match=match):
        plan_buffers(tensors(**override), SPEC)


def test_missing_output_is_named() -> None:
    infos = [t for t in tensors() if t.name != "drivable"]
    with pytest.raises(BackendError, match=r"missing tensors \['drivable'\]"):
        plan_buffers(infos, SPEC)


def test_dtype_mapping() -> None:
    assert numpy_dtype("DataType.HALF") == np.float16
    assert numpy_dtype("INT8") == np.int8
    with pytest.raises(BackendError, match="BF16"):
        numpy_dtype("DataType.BF16")


def test_shape_tuple_reads_dims_like_objects() -> None:
    class Dims:
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> int:
            return [-1, 5, 7][i]

    assert shape_tuple(Dims()) == (-1, 5, 7)


def test_raw_outputs_picks_one_image_of_the_batch() -> None:
    plan = plan_buffers(tensors(batch=2), SPEC, batch=2)
    host = {b.name: np.zeros(b.shape, b.dtype) for b in plan.buffers}
    host["lane"][1, 3, 4] = 1
    out = raw_outputs(host, SPEC, index=1)
    assert out.lane.shape == (64, 96) and out.lane[3, 4] == 1
    assert out.scores.shape == (A, 3)
