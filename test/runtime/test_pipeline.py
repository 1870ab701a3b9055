"""Pipeline + ONNX Runtime backend on a graph with known outputs: exact boxes and masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from node_fixture_model import CLASSES, build_constant_model

from mtl_perception.inference.backends import BackendError, load_backend
from mtl_perception.inference.overlay import draw_overlay
from mtl_perception.inference.pipeline import Pipeline

# Ground truth for a 1280x720 frame: net = orig * 0.5 + (0, 12)
EXPECTED = [
    ("car", 0.9, [200.0, 100.0, 400.0, 300.0]),
    ("pedestrian", 0.8, [600.0, 200.0, 680.0, 360.0]),
    ("truck", 0.7, [1200.0, 0.0, 1280.0, 56.0]),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_constant_model(tmp_path_factory.mktemp("model") / "constant.onnx")


def test_boxes_and_masks_in_original_pixels(model: Path) -> None:
    backend = load_backend(model, "onnxruntime")
    pipe = Pipeline(backend, conf=0.25, iou=0.45, max_det=100)
    frame = np.zeros((720, 1280, 3), np.uint8)
    result = pipe.process(frame, color="bgr")
    det = result.detections
    assert det.class_names == [name for name, _, _ in EXPECTED]
    np.testing.assert_allclose(det.scores, [s for _, s, _ in EXPECTED], rtol=1e-6)
    np.testing.assert_allclose(det.boxes, [b for _, _, b in EXPECTED], atol=1e-4)
    assert [CLASSES[i] for i in det.class_ids] == det.class_names
    assert result.drivable.shape == (720, 1280) and result.lane.shape == (720, 1280)
    # drivable rows 200..372 in net space -> 376..720 in source; padding class 2 cropped away
    assert (result.drivable[:376] == 0).all() and (result.drivable[376:] == 1).all()
    assert set(np.unique(result.lane)) == {0, 1}
    assert np.flatnonzero(result.lane[0]).tolist() == [640, 641, 642, 643]
    assert set(result.timings_ms) == {"preprocess", "inference", "postprocess", "total"}


def test_thresholds_and_class_filter(model: Path) -> None:
    pipe = Pipeline(load_backend(model, "onnxruntime"))
    frame = np.zeros((720, 1280, 3), np.uint8)
    pipe.set_thresholds(conf=0.75)
    assert pipe.process(frame).detections.class_names == ["car", "pedestrian"]
    pipe.set_thresholds(conf=0.05, iou=0.99)  # no suppression: the overlapping car survives
    assert pipe.process(frame).detections.class_names.count("car") == 2
    pipe.set_classes(["truck", "1"])
    assert pipe.process(frame).detections.class_names == ["truck", "rider"]
    with pytest.raises(ValueError, match="outside"):
        pipe.set_thresholds(conf=1.5)
    with pytest.raises(ValueError, match="unknown class"):
        pipe.set_classes(["zebra"])
    assert pipe.thresholds.confidence == pytest.approx(0.05)  # unchanged by the rejections
    pipe.set_thresholds(max_det=1)
    assert len(pipe.process(frame).detections) == 1


def test_overlay_draws_boxes_and_tints(model: Path) -> None:
    pipe = Pipeline(load_backend(model, "onnxruntime"))
    frame = np.full((720, 1280, 3), 50, np.uint8)
    result = pipe.process(frame, "bgr")
    out = draw_overlay(frame, result.detections, result.drivable, result.lane)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (frame == 50).all(), "overlay must not draw on its input"
    assert (out[600, 100] != 50).any(), "drivable area is tinted"
    assert (out[50, 50] == 50).all(), "background is untouched"
    assert (out[200, 200] != 50).any(), "box edge drawn at x=200"


def test_missing_corrupt_and_metadataless_models(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not found"):
        load_backend(tmp_path / "nope.onnx", "onnxruntime")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(BackendError, match="cannot load"):
        load_backend(corrupt, "onnxruntime")
    bare = build_constant_model(tmp_path / "bare.onnx", with_metadata=False)
    with pytest.raises(BackendError, match="no 'mtl_perception' metadata"):
        load_backend(bare, "onnxruntime")
    with pytest.raises(BackendError, match="unknown backend"):
        load_backend(bare, "openvino")


def test_auto_falls_back_to_onnxruntime(model: Path) -> None:
    messages: list[str] = []

    class Log:
        def info(self, msg: str) -> None:
            messages.append(msg)

        warning = info

    backend = load_backend(model, "auto", logger=Log())
    assert backend.name == "onnxruntime"
    assert any("backend auto -> onnxruntime" in m for m in messages)
