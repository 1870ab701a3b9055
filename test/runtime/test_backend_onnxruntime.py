"""ONNX Runtime backend: provider choice, I/O validation against the ModelSpec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from node_fixture_model import build_constant_model

from mtl_perception.inference.backends import BackendError
from mtl_perception.inference.backends.onnxruntime_backend import (
    OnnxRuntimeBackend,
    choose_providers,
)


def test_provider_preference_and_filtering() -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(None, available) == available
    assert choose_providers(["cpu"], available) == ["CPUExecutionProvider"]
    assert choose_providers(["tensorrt", "cpu"], available) == ["CPUExecutionProvider"]
    with pytest.raises(BackendError, match="none of the allowed"):
        choose_providers(["tensorrt"], available)


def test_runs_and_strips_batch(tmp_path: Path) -> None:
    backend = OnnxRuntimeBackend(build_constant_model(tmp_path / "m.onnx"), providers=["cpu"])
    assert backend.providers == ["CPUExecutionProvider"]
    out = backend.run(np.zeros((384, 640, 3), np.uint8))
    assert out.boxes.shape == (5, 4) and out.scores.shape == (5, 4)
    assert out.drivable.shape == (384, 640) and out.drivable.dtype == np.uint8
    with pytest.raises(BackendError, match="input must be uint8"):
        backend.run(np.zeros((720, 1280, 3), np.uint8))
    backend.close()
    backend.close()  # safe twice


@pytest.mark.parametrize("mode,allow,stop", [("run", "1", "1"), ("always", "1", "0"),
                                             ("never", "0", "0")])
def test_thread_spinning_mode_reaches_the_session(tmp_path: Path, mode: str, allow: str,
                                                  stop: str) -> None:
    model = build_constant_model(tmp_path / "m.onnx")
    frame = np.full((384, 640, 3), 50, np.uint8)
    backend = OnnxRuntimeBackend(model, providers=["cpu"], spinning=mode)
    options = backend._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == allow
    assert options.get_session_config_entry("session.force_spinning_stop") == stop
    reference = OnnxRuntimeBackend(model, providers=["cpu"], spinning="always")
    np.testing.assert_array_equal(backend.run(frame).boxes, reference.run(frame).boxes)
    backend.close()
    reference.close()
    with pytest.raises(BackendError, match="spinning must be one of"):
        OnnxRuntimeBackend(model, providers=["cpu"], spinning="sometimes")


def test_metadata_size_must_match_graph(tmp_path: Path) -> None:
    import onnx

    from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec

    path = build_constant_model(tmp_path / "m.onnx")
    model = onnx.load(path)
    spec = ModelSpec(input_height=256, input_width=512, detection_classes=("a", "b", "c", "d"))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {METADATA_KEY: spec.to_json()})
    onnx.save(model, path)
    with pytest.raises(BackendError, match="does not match metadata"):
        OnnxRuntimeBackend(path)
