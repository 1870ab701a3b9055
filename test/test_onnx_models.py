"""The one ONNX model factory: both kinds load in ONNX Runtime and keep the model contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from mtl_perception.devtools.onnx_models import (  # noqa: E402
    build_constant_model,
    build_random_model,
    known_outputs,
)
from mtl_perception.inference.onnx_metadata import read_model_spec  # noqa: E402


def _run(path: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"image": batch}), strict=True))


def test_constant_model_outputs_what_it_was_given(tmp_path: Path) -> None:
    path = build_constant_model(tmp_path / "c.onnx", (64, 96), known_outputs((64, 96)))
    out = _run(path, np.full((1, 64, 96, 3), 7, np.uint8))
    expected = known_outputs((64, 96))
    for name in ("boxes", "scores", "drivable", "lane"):
        np.testing.assert_array_equal(out[name], expected[name])
    assert read_model_spec(path).input_height == 64


def test_random_model_has_the_contract_and_a_dynamic_batch(tmp_path: Path) -> None:
    path = build_random_model(tmp_path / "r.onnx", (64, 96), num_classes=4, dynamic=True)
    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    out = _run(path, frames)
    anchors = 3 * (64 // 8) * (96 // 8)
    assert out["boxes"].shape == (2, anchors, 4) and out["scores"].shape == (2, anchors, 4)
    assert out["drivable"].shape == out["lane"].shape == (2, 64, 96)
    assert out["drivable"].dtype == np.uint8 and out["drivable"].max() <= 2
    # the weights do real work: two different frames give different scores
    assert not np.array_equal(out["scores"][0], out["scores"][1])
    spec = read_model_spec(path)
    assert (spec.input_height, spec.input_width) == (64, 96)
    assert len(spec.detection_classes) == 4
