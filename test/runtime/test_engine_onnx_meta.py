"""Reading ModelSpec from ONNX metadata_props without onnx/onnxruntime (Jetson path)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec, ModelSpecError
from mtl_perception.inference.onnx_metadata import read_metadata_props, read_model_spec

SPEC = ModelSpec(input_height=64, input_width=96, detection_classes=("car",), recipe_name="r")


def _model(path: Path, props: dict[str, str]) -> None:
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, [1000], [0.5] * 1000)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, props)
    onnx.save(model, str(path))


def test_reads_same_props_as_onnx(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    props = {METADATA_KEY: SPEC.to_json(), "other": "välue"}
    _model(path, props)
    expected = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert read_metadata_props(path) == expected == props
    assert read_model_spec(path) == SPEC


def test_missing_key_says_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _model(path, {"foo": "bar"})
    with pytest.raises(ModelSpecError, match="mtl-export"):
        read_model_spec(path)


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _model(path, {METADATA_KEY: SPEC.to_json()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelSpecError, match="truncated"):
        read_metadata_props(path)
