"""A dynamic-batch ONNX model: one batch of three frames gives what three single runs give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from node_fixture_model import build_constant_model

from mtl_perception.inference.backends import load_backend
from mtl_perception.inference.backends.base import Backend, RawOutputs
from mtl_perception.inference.pipeline import Pipeline


def _frames() -> list[tuple[np.ndarray, str]]:
    """Three different 720p frames (different mean and a bright region in different places)."""
    frames = []
    for i, value in enumerate((20, 60, 100)):
        img = np.full((720, 1280, 3), value, np.uint8)
        img[100 + 150 * i: 250 + 200 * i, 200 * i: 200 * i + 300] = 250
        frames.append((img, "bgr"))
    return frames


class CountingBackend(Backend):
    """Counts the calls reaching the real backend, and the batch sizes they carry."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.calls: list[int] = []

    @property
    def spec(self):
        return self.inner.spec

    @property
    def max_batch(self) -> int:
        return self.inner.max_batch

    def run(self, image: np.ndarray) -> RawOutputs:
        self.calls.append(1)
        return self.inner.run(image)

    def run_batch(self, images):
        self.calls.append(len(images))
        return self.inner.run_batch(images)


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_constant_model(tmp_path_factory.mktemp("dyn") / "dynamic.onnx",
                                dynamic_batch=True, image_dependent=True)


def test_batch_of_three_equals_three_single_runs(dynamic_model: Path) -> None:
    backend = CountingBackend(load_backend(dynamic_model, "onnxruntime"))
    pipe = Pipeline(backend)
    assert pipe.max_batch > 3
    frames = _frames()
    singles = [pipe.process(img, color) for img, color in frames]
    assert backend.calls == [1, 1, 1]
    batched = pipe.process_batch(frames)
    assert backend.calls[3:] == [3], "the three frames must go through one backend call"
    assert len(batched) == 3
    for one, many in zip(singles, batched):  # noqa: B905 - Python 3.8 lane
        np.testing.assert_allclose(many.detections.boxes, one.detections.boxes, atol=1e-4)
        np.testing.assert_allclose(many.detections.scores, one.detections.scores, rtol=1e-6)
        assert many.detections.class_names == one.detections.class_names
        np.testing.assert_array_equal(many.drivable, one.drivable)
        np.testing.assert_array_equal(many.lane, one.lane)
        assert set(many.timings_ms) == {"preprocess", "inference", "postprocess", "total"}
    # the frames really differ, so a mixed-up batch would have failed above
    assert len({float(r.detections.boxes[0, 0]) for r in batched}) == 3
    assert len({int(r.lane.sum()) for r in batched}) == 3


def test_mask_buffers_are_filled_per_frame(dynamic_model: Path) -> None:
    pipe = Pipeline(load_backend(dynamic_model, "onnxruntime"))
    frames = _frames()
    owned = [(np.zeros((720, 1280), np.uint8), np.zeros((720, 1280), np.uint8))
             for _ in frames]
    results = pipe.process_batch(frames, [lambda hw, o=o: o for o in owned])
    for (drivable, lane), result in zip(owned, results):  # noqa: B905 - Python 3.8 lane
        assert result.lane is lane and result.drivable is drivable
    assert len({int(lane.sum()) for _, lane in owned}) == 3


def test_fixed_batch_model_runs_frames_one_after_another(tmp_path: Path) -> None:
    backend = CountingBackend(load_backend(build_constant_model(tmp_path / "fixed.onnx"),
                                           "onnxruntime"))
    assert backend.max_batch == 1
    results = Pipeline(backend).process_batch(_frames())
    assert backend.calls == [1, 1, 1]
    assert [r.detections.class_names for r in results] == [["car", "pedestrian", "truck"]] * 3


def test_batch_larger_than_the_backend_allows_is_split(dynamic_model: Path) -> None:
    class TwoAtATime(CountingBackend):
        @property
        def max_batch(self) -> int:
            return 2

    backend = TwoAtATime(load_backend(dynamic_model, "onnxruntime"))
    results = Pipeline(backend).process_batch(_frames())
    assert backend.calls == [2, 1] and len(results) == 3
