"""``mtl-quantize``: explicit INT8 (a QDQ ONNX model) from real calibration frames, measured.

    mtl-quantize --model model.onnx --calib DIR_OR_BAG --out model.int8.onnx \
        [--eval-data BDD_ROOT] [--report report.json]

The QDQ model runs in ONNX Runtime here and is consumed by TensorRT as explicit-precision
INT8 on a Jetson (``--target tensorrt``: symmetric int8 activations, zero points 0, as
TensorRT requires). The in-graph decode tail (box decoding, sigmoid, argmax) always stays in
float: quantizing pixel coordinates to 8 bits would move boxes by pixels. The last
convolution before each output (detection head and segmentation logits) stays float too
unless ``--quantize-heads`` is given, and so do the stride-2/4 backbone stages and the
low-level feature unless ``--quantize-early-stages`` is given (docs/deployment.md has the
measured effect of both). The JSON report holds the accuracy delta against FP32 on a
labelled split (detection mAP50, drivable mIoU, lane IoU, in points), the latency of both
models timed interleaved in one process with the node's ONNX Runtime session options
(devtools/bench/timing.py), and the size ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from mtl_perception.common.atomic_files import atomic_write_text
from mtl_perception.deploy.calibration import calibration_batches
from mtl_perception.deploy.quantize_checks import check_eval_data, quiet_logs, refuse_quantized
from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec
from mtl_perception.inference.onnx_metadata import read_model_spec

LOG = logging.getLogger("mtl-quantize")
QUANT_KEY = "mtl_perception.quantization"
TARGETS = ("tensorrt", "cpu")
# The stride-2 and stride-4 backbone stages and the low-level projection the segmentation
# heads take directly: quantized, they cost about 1 lane IoU point on the demo model and made
# ONNX Runtime slower on CPU (docs/deployment.md), so they stay float by default.
EARLY_STAGES = ("/model/backbone/stages.0", "/model/backbone/stages.1", "/model/low_level")


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def head_convs(graph: onnx.GraphProto) -> list[str]:
    """The last Conv on every path into a graph output (detection and segmentation logits)."""
    producer = {o: n for n in graph.node for o in n.output}
    found: dict[str, None] = {}
    stack = [o.name for o in graph.output]
    seen: set[str] = set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found[node.name] = None
            continue
        stack.extend(node.input)
    return list(found)


def downstream_of(graph: onnx.GraphProto, names: Iterable[str]) -> list[str]:
    """Every node fed (directly or not) by the nodes ``names``, excluding those nodes."""
    by_name = {n.name: n for n in graph.node}
    consumers = _consumers(graph)
    start = set(names)
    found: dict[str, None] = {}
    stack = [o for n in start for o in by_name[n].output]
    while stack:
        for node in consumers.get(stack.pop(), []):
            if node.name not in found and node.name not in start:
                found[node.name] = None
                stack.extend(node.output)
    return list(found)


def nodes_with_prefix(graph: onnx.GraphProto, prefixes: Iterable[str],
                      required: bool = True) -> list[str]:
    """Names of the nodes under any of these name prefixes.

    ValueError if a ``required`` prefix matches none (a typo would otherwise do nothing).
    """
    found: list[str] = []
    for prefix in prefixes:
        matched = [n.name for n in graph.node if n.name.startswith(prefix)]
        if not matched and required:
            raise ValueError(f"--keep-float {prefix!r} matches no node of the model "
                             "(node names look like /model/lane_head/...)")
        found += [m for m in matched if m not in found]
    return found


def _name_nodes(proto: onnx.ModelProto) -> None:
    """The quantizer excludes nodes by name, so every node needs a unique one."""
    used: set[str] = set()
    for i, node in enumerate(proto.graph.node):
        if not node.name or node.name in used:
            node.name = f"{node.op_type}_{i}"
        used.add(node.name)


class FrameReader:
    """ONNX Runtime CalibrationDataReader over uint8 [1, H, W, 3] calibration frames."""

    def __init__(self, batches: Iterator[np.ndarray], input_name: str) -> None:
        self._batches = batches
        self._input = input_name
        self.count = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.count += len(batch)
        return {self._input: batch}

    def rewind(self) -> None:  # part of the reader protocol; one pass is all we use
        pass


HISTOGRAM_METHODS = ("entropy", "percentile")


def float_activation_bytes(proto: onnx.ModelProto) -> int:
    """Bytes of every float tensor one frame produces (shape inference at the static input)."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    total = 0
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        tensor = info.type.tensor_type
        dims = [d.dim_value for d in tensor.shape.dim]
        if tensor.elem_type == onnx.TensorProto.FLOAT and dims and all(d > 0 for d in dims):
            total += int(np.prod(dims)) * 4
    return total


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_histogram_memory(
    proto: onnx.ModelProto, method: str, frames: int, available: int | None = None
) -> None:
    """Stop before ONNX Runtime's histogram calibrators exhaust memory (they get OOM-killed).

    They keep every activation of every calibration frame until the end: a 384x640 model
    holds ~0.5 GB per frame, so 64 frames need ~33 GB. MinMax merges per frame instead.
    """
    if method not in HISTOGRAM_METHODS:
        return
    per_frame = float_activation_bytes(proto)
    avail = available_memory_bytes() if available is None else available
    if avail is None or per_frame == 0:
        return
    budget = avail // 2
    if per_frame * frames > budget:
        fit = max(1, budget // per_frame)
        raise ValueError(
            f"--method {method} keeps every activation of every calibration frame in memory "
            f"(ONNX Runtime's histogram calibrator): up to {frames} frames x "
            f"{per_frame / 1e6:.0f} MB = {per_frame * frames / 1e9:.1f} GB, more than half of "
            f"the {avail / 1e9:.1f} GB available; use --calib-frames {fit} or fewer, or "
            "--method minmax"
        )


def quantize_model(
    model_in: str | Path,
    model_out: str | Path,
    calib: str | Path,
    frames: int = 100,
    every: int = 1,
    quantize_heads: bool = False,
    target: str = "tensorrt",
    method: str = "minmax",
    topic: str | None = None,
    keep_float: Sequence[str] = (),
    quantize_early: bool = False,
) -> dict[str, Any]:
    """Write a QDQ INT8 copy of ``model_in``; returns what was done (for the report).

    ``keep_float`` holds node-name prefixes (e.g. ``/model/lane_head``) whose nodes stay
    float, for layers that measurement shows are sensitive. Unless ``quantize_early``, the
    :data:`EARLY_STAGES` stay float as well (measured: docs/deployment.md).
    """
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}")
    spec = read_model_spec(model_in)
    proto = onnx.load(str(model_in))
    refuse_quantized(proto, model_in, QUANT_KEY)
    check_histogram_memory(proto, method, frames)
    _name_nodes(proto)
    heads = head_convs(proto.graph)
    float_nodes = downstream_of(proto.graph, heads) + ([] if quantize_heads else heads)
    by_prefix = nodes_with_prefix(proto.graph, keep_float)
    if not quantize_early:
        by_prefix += nodes_with_prefix(proto.graph, EARLY_STAGES, required=False)
    float_nodes += [n for n in dict.fromkeys(by_prefix) if n not in set(float_nodes)]
    hw = (spec.input_height, spec.input_width)
    batches = calibration_batches(calib, hw, 1, frames, every, spec.pad_value, topic)
    reader = FrameReader(batches, spec.input_name)
    CalibrationDataReader.register(FrameReader)
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    symmetric = target == "tensorrt"
    with tempfile.TemporaryDirectory() as tmp:
        named = Path(tmp) / "named.onnx"
        onnx.save(proto, str(named))
        start = time.monotonic()
        quantize_static(
            str(named),
            str(model_out),
            reader,  # type: ignore[arg-type]
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=float_nodes,
            calibrate_method=methods[method],
            # TensorRT dequantizes only int8: int32 bias Q/DQ would not parse, so biases stay
            # float for the tensorrt target (TensorRT folds them into the int8 conv itself).
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                           "QuantizeBias": not symmetric},
        )
    info = {
        "target": target,
        "calibration_frames": reader.count,
        "calibration_method": method,
        "heads_float": not quantize_heads,
        "head_convs": heads,
        "float_nodes": len(float_nodes),
        "keep_float_prefixes": list(keep_float) + ([] if quantize_early
                                                   else list(EARLY_STAGES)),
        "seconds": round(time.monotonic() - start, 1),
    }
    out = onnx.load(str(model_out))
    props = {p.key: p.value for p in out.metadata_props}
    props[METADATA_KEY] = spec.to_json()
    props[QUANT_KEY] = json.dumps(info, sort_keys=True)
    del out.metadata_props[:]
    onnx.helper.set_model_props(out, props)
    onnx.save(out, str(model_out))
    return info


def evaluate_onnx(
    path: str | Path, data_root: str | Path, split: str = "val", limit: int | None = None
) -> dict[str, Any]:
    """Metrics of an exported model on a labelled BDD-layout split.

    The model runs through mtl-offline's path (the node's Pipeline, source-size masks) at
    the yolop protocol's NMS thresholds, and :mod:`mtl_perception.evaluation` scores it.
    """
    import tempfile

    from mtl_perception.evaluation.detection import (
        YOLOP_CONF,
        YOLOP_MAX_DETECTIONS,
        YOLOP_NMS_IOU,
    )
    from mtl_perception.evaluation.groundtruth import GroundTruth
    from mtl_perception.evaluation.offline import OfflineOptions, run_offline
    from mtl_perception.inference.backends import load_backend
    from mtl_perception.inference.pipeline import Pipeline
    from mtl_perception.io.sources import open_source

    root = Path(data_root)
    truth = GroundTruth.from_bdd_root(root, split)
    pipeline = Pipeline(load_backend(path, "onnxruntime"), conf=YOLOP_CONF, iou=YOLOP_NMS_IOU,
                        max_det=YOLOP_MAX_DETECTIONS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            opts = OfflineOptions(Path(tmp), video=False, max_frames=limit, progress=False)
            result = run_offline(open_source(root / "images" / "100k" / split), pipeline, opts,
                                 truth)
    finally:
        pipeline.close()
    if result.metrics is None:
        raise ValueError(f"no labelled frames in {root} split {split!r}")
    return result.metrics


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers the report compares, in points (0-100)."""
    from mtl_perception.evaluation.evaluator import headline as numbers

    h = numbers(metrics)
    keys = {"map50": "map50_all_classes", "drivable_miou": "drivable_miou",
            "lane_iou": "lane_iou", "bdd100k_ap": "bdd100k_det_ap",
            "bdd100k_drivable_miou": "bdd100k_drivable_miou"}
    return {k: round(100.0 * float(h[v] or 0.0), 2) for k, v in keys.items()}


def build_report(
    fp32: Path, int8: Path, info: dict[str, Any], calib: str | Path,
    eval_data: str | Path | None, eval_split: str, eval_limit: int | None, runs: int,
) -> dict[str, Any]:
    """Accuracy delta (if labelled data), speed ratio and size ratio of INT8 vs FP32."""
    spec: ModelSpec = read_model_spec(fp32)
    frame = next(calibration_batches(calib, (spec.input_height, spec.input_width), 1,
                                     pad_value=spec.pad_value))[0]
    from mtl_perception.devtools.bench.timing import ort_session, time_interleaved

    sessions = {"fp32": ort_session(fp32), "int8": ort_session(int8)}
    fns = {k: (lambda s=s: s.run(None, {s.get_inputs()[0].name: frame[None]}))
           for k, s in sessions.items()}
    stats = time_interleaved(fns, runs, 3, 600.0)
    latency = {k: {"p50_ms": round(v["p50"], 2), "p99_ms": round(v["p99"], 2), "n": v["n"]}
               for k, v in stats.items()}
    report: dict[str, Any] = {
        "models": {"fp32": str(fp32), "int8": str(int8)},
        "input": [spec.input_height, spec.input_width],
        "quantization": info,
        "latency": latency,
        "speed_ratio": round(latency["fp32"]["p50_ms"] / latency["int8"]["p50_ms"], 3),
        "size_ratio": round(int8.stat().st_size / fp32.stat().st_size, 3),
        "sizes_mb": {"fp32": round(fp32.stat().st_size / 1e6, 2),
                     "int8": round(int8.stat().st_size / 1e6, 2)},
    }
    if eval_data:
        a = headline(evaluate_onnx(fp32, eval_data, eval_split, eval_limit))
        b = headline(evaluate_onnx(int8, eval_data, eval_split, eval_limit))
        report["accuracy"] = {"split": f"{eval_data}:{eval_split}", "fp32": a, "int8": b,
                              "delta_points": {k: round(b[k] - a[k], 2) for k in a}}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mtl-quantize", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="FP32 ONNX from mtl-export")
    parser.add_argument("--calib", required=True, help="image folder or rosbag2 bag")
    parser.add_argument("--calib-topic", help="image topic in the bag (default: busiest)")
    parser.add_argument("--calib-frames", type=int, default=100)
    parser.add_argument("--calib-every", type=int, default=1, help="use every n-th frame")
    parser.add_argument("--method", choices=("minmax", "entropy", "percentile"),
                        default="minmax", help="ONNX Runtime calibration method")
    parser.add_argument("--target", choices=TARGETS, default="tensorrt",
                        help="tensorrt: symmetric int8 (TensorRT-consumable, default); "
                             "cpu: asymmetric uint8 activations (ONNX Runtime's fastest)")
    parser.add_argument("--quantize-heads", action="store_true",
                        help="also quantize the last conv before each output")
    parser.add_argument("--keep-float", action="append", default=[], metavar="PREFIX",
                        help="keep the nodes whose name starts with PREFIX in float "
                             "(repeatable), e.g. /model/lane_head")
    parser.add_argument("--quantize-early-stages", action="store_true",
                        help="also quantize the stride-2/4 backbone stages and the low-level "
                             "feature (float by default)")
    parser.add_argument("--out", required=True, type=Path, help="output QDQ .onnx")
    parser.add_argument("--eval-data", help="labelled BDD-layout root for the accuracy delta")
    parser.add_argument("--eval-split", default="val")
    parser.add_argument("--eval-limit", type=int, help="evaluate on the first N images")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per model")
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--verbose", action="store_true", help="show ONNX Runtime's own log")
    args = parser.parse_args(argv)
    quiet_logs(args.verbose)
    from mtl_perception.deploy.calibration import CalibrationError

    try:
        check_eval_data(args.eval_data, args.eval_split)
        info = quantize_model(args.model, args.out, args.calib, args.calib_frames,
                              args.calib_every, args.quantize_heads, args.target, args.method,
                              args.calib_topic, args.keep_float,
                              args.quantize_early_stages)
        LOG.info("wrote %s (%d calibration frames, %.0f s)", args.out,
                 info["calibration_frames"], info["seconds"])
        report = build_report(args.model, args.out, info, args.calib, args.eval_data,
                              args.eval_split, args.eval_limit, args.runs)
    except (CalibrationError, OSError, ValueError) as exc:
        print(f"mtl-quantize: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    if args.report:
        atomic_write_text(args.report, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
