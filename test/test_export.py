"""mtl-export: ONNX graph I/O, metadata, TensorRT-8.5-safe ops, parity with PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from mtl_perception.common.atomic_files import file_sha256
from mtl_perception.common.cli_args import run_cli
from mtl_perception.deploy import export
from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec
from mtl_perception.inference.onnx_metadata import read_model_spec
from mtl_perception.training.config.recipe import recipe_hash
from mtl_perception.training.engine.checkpoint import save_atomic
from mtl_perception.training.model.network import build_model, model_from_checkpoint

TINY: dict[str, Any] = {
    "name": "tiny_test",
    "backbone": {"name": "mobilenetv2", "pretrained": False},
    "input_size": [64, 96],
    "classes": ["car", "pedestrian"],
    "neck": {"channels": 16, "repeats": 1},
    "det_head": {"convs": 1},
    "seg_head": {"channels": 8, "low_level_channels": 8},
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_model(TINY)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_atomic({"model": model.state_dict(), "recipe": model.recipe,
                 "class_names": model.class_names}, path)
    return path


@pytest.fixture(scope="module")
def exported(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert export.main(["--weights", str(ckpt), "--out", str(out)]) == 0
    return out


def _io(proto: onnx.ModelProto) -> dict[str, tuple[int, list[Any]]]:
    out = {}
    for v in [*proto.graph.input, *proto.graph.output]:
        t = v.type.tensor_type
        out[v.name] = (t.elem_type, [d.dim_value or d.dim_param for d in t.shape.dim])
    return out


def test_graph_io_and_opset(exported: Path) -> None:
    proto = onnx.load(str(exported))
    assert {o.domain or "ai.onnx": o.version for o in proto.opset_import}["ai.onnx"] == 17
    io = _io(proto)
    u8, f32 = onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT
    assert io["image"] == (u8, [1, 64, 96, 3])
    anchors = 3 * (8 * 12 + 4 * 6 + 2 * 3)
    assert io["boxes"] == (f32, [1, anchors, 4])
    assert io["scores"] == (f32, [1, anchors, 2])
    assert io["drivable"] == (u8, [1, 64, 96])
    assert io["lane"] == (u8, [1, 64, 96])
    assert export.graph_problems(proto) == []


def test_metadata_carries_the_full_spec(exported: Path, ckpt: Path) -> None:
    proto = onnx.load(str(exported))
    props = {p.key: p.value for p in proto.metadata_props}
    spec = ModelSpec.from_json(props[METADATA_KEY])
    assert spec == read_model_spec(exported)  # the Jetson-side reader agrees
    assert (spec.input_height, spec.input_width) == (64, 96)
    assert spec.input_layout == "NHWC" and spec.input_color == "RGB"
    assert spec.detection_classes == ("car", "pedestrian")
    assert spec.drivable_classes == ("background", "direct", "alternative")
    assert spec.lane_classes == ("background", "lane")
    assert spec.needs_nms and spec.nms.iou_threshold > 0
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406))
    assert spec.recipe_name == "tiny_test"
    recipe = torch.load(ckpt, weights_only=True)["recipe"]
    assert spec.recipe_sha256.startswith(recipe_hash(recipe)) and len(spec.recipe_sha256) == 64
    assert spec.checkpoint_sha256 == file_sha256(ckpt)


def test_onnx_runtime_matches_pytorch(exported: Path, ckpt: Path) -> None:
    model, _ = model_from_checkpoint(str(ckpt))
    frame = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    result = export.parity(model, exported, frame)
    assert result["boxes_max_rel"] <= 1e-3
    assert result["scores_max_abs"] <= 1e-4
    assert result["drivable_agree"] >= 0.999
    assert result["lane_agree"] >= 0.999


def test_dynamic_batch_runs_two_frames_like_two_single_runs(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "dyn.onnx"
    assert export.main(["--weights", str(ckpt), "--out", str(out), "--dynamic"]) == 0
    assert _io(onnx.load(str(out)))["image"][1][0] == "batch"
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(2).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    both = sess.run(None, {"image": frames})
    for i in range(2):
        single = sess.run(None, {"image": frames[i : i + 1]})
        np.testing.assert_allclose(both[0][i], single[0][0], rtol=1e-4, atol=1e-3)
        assert (both[2][i] == single[2][0]).mean() >= 0.999


@pytest.mark.parametrize("hw", export.PAPER_RESOLUTIONS)
def test_paper_resolutions_export_and_run(ckpt: Path, tmp_path: Path, hw: tuple[int, int]) -> None:
    out = tmp_path / f"m{hw[0]}.onnx"
    model, _ = model_from_checkpoint(str(ckpt))
    result = export.export_model(model, out, hw)
    assert (result.spec.input_height, result.spec.input_width) == hw
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    frame = np.full((1, *hw, 3), 114, dtype=np.uint8)
    boxes, scores, drivable, lane = sess.run(None, {"image": frame})
    anchors = 3 * sum((hw[0] // s) * (hw[1] // s) for s in (8, 16, 32))
    assert boxes.shape == (1, anchors, 4) and scores.shape == (1, anchors, 2)
    assert drivable.shape == lane.shape == (1, *hw) and drivable.dtype == np.uint8


def test_anchors_scale_with_export_resolution(ckpt: Path) -> None:
    model, _ = model_from_checkpoint(str(ckpt))
    before = model.anchors.clone()
    export.at_resolution(model, (128, 192))
    torch.testing.assert_close(model.anchors, before * 2)


def test_graph_problems_flags_what_tensorrt_85_rejects() -> None:
    node = onnx.helper.make_node("NonZero", ["x"], ["y"])
    custom = onnx.helper.make_node("MyOp", ["x"], ["z"], domain="com.example")
    graph = onnx.helper.make_graph([node, custom], "g", [], [])
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    problems = " | ".join(export.graph_problems(proto))
    assert "opset 18" in problems and "com.example" in problems and "NonZero" in problems


def test_bad_checkpoint_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    argv = ["--weights", str(bad), "--out", str(tmp_path / "x.onnx")]
    assert run_cli("mtl-export", export.main, argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mtl-export:") and "\n" not in err


def test_resolution_argument_validation() -> None:
    assert export.parse_resolution("384x640") == (384, 640)
    with pytest.raises(Exception, match="multiples of 32"):
        export.parse_resolution("380x640")
    with pytest.raises(Exception, match="height first"):  # the shared HxW grammar
        export.parse_resolution("640x384")
