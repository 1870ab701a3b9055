"""mtl-quantize: a QDQ model TensorRT can consume, that ONNX Runtime runs, and its report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from mtl_perception.common.cli_args import run_cli
from mtl_perception.deploy import export, quantize
from mtl_perception.inference.onnx_metadata import read_model_spec
from mtl_perception.synth import generate as synth
from mtl_perception.training.model.network import build_model

TINY = {
    "name": "tiny_q",
    "backbone": {"name": "mobilenetv2", "pretrained": False},
    "input_size": [64, 96],
    "classes": ["vehicle", "pedestrian"],
    "neck": {"channels": 16, "repeats": 1},
    "det_head": {"convs": 1},
    "seg_head": {"channels": 8, "low_level_channels": 8},
}


def cli(argv: list[str]) -> int:
    """``mtl-quantize ARGV`` as the console script runs it (exit status, one-line errors)."""
    return run_cli("mtl-quantize", quantize.main, argv)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("q")
    torch.manual_seed(0)
    fp32 = root / "m.onnx"
    export.export_model(build_model(TINY), fp32)
    data = root / "synth"
    assert synth.main(["--out", str(data), "--train", "6", "--val", "3",
                       "--size", "128x192"]) == 0
    int8 = root / "m.int8.onnx"
    report = root / "report.json"
    code = cli(["--model", str(fp32), "--calib", str(data / "images/100k/train"),
                          "--out", str(int8), "--eval-data", str(data), "--runs", "2",
                          "--json", str(report)])
    assert code == 0
    return {"fp32": fp32, "int8": int8, "report": report}


def test_int8_model_is_explicit_qdq_with_zero_points_zero(setup: dict[str, Path]) -> None:
    proto = onnx.load(str(setup["int8"]))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    inits = {i.name: i for i in proto.graph.initializer}
    qnodes = [n for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    for node in qnodes:
        zp = numpy_helper.to_array(inits[node.input[2]])
        assert zp.dtype == np.int8 and not zp.any(), f"{node.name}: TensorRT needs int8 zp 0"
    opset = {o.domain or "ai.onnx": o.version for o in proto.opset_import}["ai.onnx"]
    assert 13 <= opset <= 17  # per-channel Q/DQ needs 13; TensorRT 8.5 parses up to 17


def test_decode_tail_and_heads_stay_float(setup: dict[str, Path]) -> None:
    proto = onnx.load(str(setup["int8"]))
    heads = quantize.head_convs(proto.graph)
    assert len(heads) == 5  # three detection levels, drivable and lane logits
    tail = set(quantize.downstream_of(proto.graph, heads))
    producer = {o: n for n in proto.graph.node for o in n.output}
    fed_by_dq = [
        n.name
        for n in proto.graph.node
        if n.name in tail
        and any(producer.get(i) and producer[i].op_type == "DequantizeLinear" for i in n.input)
    ]
    assert len(tail) > 20 and not fed_by_dq  # boxes/scores/argmax computed from float tensors
    for n in proto.graph.node:
        if n.name in heads:  # float weights: the heads' Conv weights are not dequantized
            assert producer.get(n.input[1]) is None


def test_onnx_runtime_runs_it_and_spec_survives(setup: dict[str, Path]) -> None:
    spec = read_model_spec(setup["int8"])
    assert spec == read_model_spec(setup["fp32"])
    props = {p.key: p.value for p in onnx.load(str(setup["int8"])).metadata_props}
    assert json.loads(props[quantize.QUANT_KEY])["calibration_frames"] == 6
    sess = ort.InferenceSession(str(setup["int8"]), providers=["CPUExecutionProvider"])
    frame = np.full((1, 64, 96, 3), 114, np.uint8)
    boxes, scores, drivable, lane = sess.run(None, {"image": frame})
    assert boxes.dtype == np.float32 and drivable.dtype == np.uint8
    assert drivable.shape == lane.shape == (1, 64, 96)
    assert np.isfinite(boxes).all() and (scores >= 0).all() and (scores <= 1).all()


def test_report_has_accuracy_speed_and_size(setup: dict[str, Path]) -> None:
    report = json.loads(setup["report"].read_text())
    assert set(report["accuracy"]["delta_points"]) == {
        "vehicle_map50", "map50", "drivable_miou", "lane_iou", "bdd100k_ap",
        "bdd100k_drivable_miou"}
    fp32, int8 = report["accuracy"]["fp32"], report["accuracy"]["int8"]
    for k, delta in report["accuracy"]["delta_points"].items():
        assert delta == pytest.approx(int8[k] - fp32[k], abs=0.011)
    assert report["latency"]["fp32"]["p50_ms"] > 0 and report["latency"]["int8"]["p50_ms"] > 0
    assert report["speed_ratio"] == pytest.approx(
        report["latency"]["fp32"]["p50_ms"] / report["latency"]["int8"]["p50_ms"], rel=0.01)
    assert 0 < report["size_ratio"] < 1
    assert report["quantization"]["heads_float"] is True


def test_empty_calibration_source_is_an_error(tmp_path: Path, setup: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["--model", str(setup["fp32"]), "--calib", str(tmp_path),
                          "--out", str(tmp_path / "x.onnx")])
    assert code == 1 and "holds no" in capsys.readouterr().err


def test_histogram_calibration_that_cannot_fit_in_memory_stops_with_advice(
        setup: dict[str, Path]) -> None:
    proto = onnx.load(str(setup["fp32"]))
    per_frame = quantize.float_activation_bytes(proto)
    assert per_frame > 0
    quantize.check_histogram_memory(proto, "minmax", 10**6, available=1)  # merges per frame
    quantize.check_histogram_memory(proto, "percentile", 4, available=per_frame * 8)
    with pytest.raises(ValueError, match=r"--calib-frames 4 or fewer, or --method minmax"):
        quantize.check_histogram_memory(proto, "entropy", 5, available=per_frame * 8)


def test_keep_float_prefix_leaves_that_subgraph_unquantized(tmp_path: Path,
                                                             setup: dict[str, Path]) -> None:
    calib = str(setup["fp32"].parent / "synth/images/100k/train")
    out = tmp_path / "lane_float.onnx"
    info = quantize.quantize_model(setup["fp32"], out, calib, frames=2,
                                   keep_float=["/model/lane_head"])
    proto = onnx.load(str(out))
    producer = {o: n for n in proto.graph.node for o in n.output}
    lane_convs = [n for n in proto.graph.node
                  if n.op_type == "Conv" and n.name.startswith("/model/lane_head")]
    other_convs = [n for n in proto.graph.node
                   if n.op_type == "Conv" and not n.name.startswith("/model/lane_head")]
    assert len(lane_convs) >= 3
    assert info["keep_float_prefixes"] == ["/model/lane_head", *quantize.EARLY_STAGES]
    consumers: dict[str, list[str]] = {}
    for n in proto.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    for conv in lane_convs:  # float weights, and the output is never re-quantized
        assert producer.get(conv.input[1]) is None, conv.name
        assert "QuantizeLinear" not in consumers.get(conv.output[0], []), conv.name
    assert any(producer.get(c.input[1]) is not None
               and producer[c.input[1]].op_type == "DequantizeLinear" for c in other_convs)


def test_keep_float_prefix_that_matches_nothing_is_an_error(
        tmp_path: Path, setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["--model", str(setup["fp32"]), "--calib",
                          str(setup["fp32"].parent / "synth/images/100k/train"),
                          "--keep-float", "/model/no_such_head", "--out",
                          str(tmp_path / "x.onnx")])
    assert code == 1 and "matches no node" in capsys.readouterr().err


def _early_conv_weights_dequantized(path: Path) -> list[bool]:
    proto = onnx.load(str(path))
    producer = {o: n for n in proto.graph.node for o in n.output}
    return [producer.get(n.input[1]) is not None
            and producer[n.input[1]].op_type == "DequantizeLinear"
            for n in proto.graph.node
            if n.op_type == "Conv" and n.name.startswith(quantize.EARLY_STAGES)]


def test_early_stages_stay_float_unless_asked(tmp_path: Path, setup: dict[str, Path]) -> None:
    default = _early_conv_weights_dequantized(setup["int8"])
    assert len(default) >= 4 and not any(default)
    out = tmp_path / "early_int8.onnx"
    info = quantize.quantize_model(setup["fp32"], out,
                                   str(setup["fp32"].parent / "synth/images/100k/train"),
                                   frames=2, quantize_early=True)
    assert all(_early_conv_weights_dequantized(out))
    assert info["keep_float_prefixes"] == []


def test_an_already_quantized_model_is_refused_at_once(
    setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    start = time.monotonic()
    rc = cli(["--model", str(setup["int8"]), "--calib", str(setup["fp32"].parent /
                        "synth/images/100k/train"), "--out", str(tmp_path / "again.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "is already quantized" in err
    assert "mtl-export" in err and not (tmp_path / "again.onnx").exists()
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("bad", ["missing", "empty"])
def test_bad_eval_data_is_refused_before_calibrating(
    setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    root = tmp_path / "eval"
    if bad == "empty":
        (root / "images" / "100k" / "val").mkdir(parents=True)
    rc = cli(["--model", str(setup["fp32"]), "--calib", str(setup["fp32"].parent /
                        "synth/images/100k/train"), "--out", str(tmp_path / "q.onnx"),
                        "--eval-data", str(root)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and f"--eval-data {root}" in err
    assert not (tmp_path / "q.onnx").exists()  # nothing calibrated or written


def test_onnx_runtime_log_stays_quiet_unless_verbose(setup: dict[str, Path],
                                                     tmp_path: Path) -> None:
    import subprocess
    import sys

    calib = str(setup["fp32"].parent / "synth/images/100k/train")
    base = [sys.executable, "-m", "mtl_perception.deploy.quantize", "--model",
            str(setup["fp32"]), "--calib", calib, "--calib-frames", "2", "--runs", "1"]
    quiet = subprocess.run([*base, "--out", str(tmp_path / "a.onnx")], capture_output=True,
                           text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip().splitlines() == [
        f"mtl-quantize: wrote {tmp_path / 'a.onnx'} (2 calibration frames, "
        + quiet.stderr.split("frames, ")[1].split(")")[0] + ")"]
    loud = subprocess.run([*base, "--out", str(tmp_path / "b.onnx"), "--verbose"],
                          capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and "root:" in loud.stderr
