"""``mtl-quantize``: explicit INT8 (a QDQ ONNX model) from real calibration frames, measured.

    mtl-quantize --model model.onnx --calib DIR_OR_BAG --out model.int8.onnx \
        [--eval-data BDD_ROOT] [--json report.json]

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
(deploy/latency.py), and the size ratio.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from mtl_perception.common.atomic_files import atomic_write_text
from mtl_perception.common.cli_args import ArgumentParser, add_limit, add_out, positive_int, run_cli
from mtl_perception.deploy.calibration import calibration_batches
from mtl_perception.deploy.quantize_checks import (
    QuantizeError,
    check_eval_data,
    quiet_logs,
    refuse_quantized,
)
from mtl_perception.deploy.quantize_graph import (  # noqa: F401 - part of this module's API
    EARLY_STAGES,
    HISTOGRAM_METHODS,
    check_histogram_memory,
    downstream_of,
    float_activation_bytes,
    head_convs,
    name_nodes,
    nodes_with_prefix,
)
from mtl_perception.deploy.quantize_report import build_report
from mtl_perception.inference.model_spec import METADATA_KEY
from mtl_perception.inference.onnx_metadata import read_model_spec

LOG = logging.getLogger("mtl-quantize")
QUANT_KEY = "mtl_perception.quantization"
TARGETS = ("tensorrt", "cpu")


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
        raise QuantizeError(f"target must be one of {TARGETS}")
    spec = read_model_spec(model_in)
    proto = onnx.load(str(model_in))
    refuse_quantized(proto, model_in, QUANT_KEY)
    check_histogram_memory(proto, method, frames)
    name_nodes(proto)
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


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="mtl-quantize", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="FP32 ONNX from mtl-export")
    parser.add_argument("--calib", required=True, help="image folder or rosbag2 bag")
    parser.add_argument("--calib-topic", help="image topic in the bag (default: busiest)")
    parser.add_argument("--calib-frames", type=positive_int, default=100)
    parser.add_argument("--calib-every", type=positive_int, default=1,
                        help="use every n-th frame")
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
    add_out(parser, required=True, help="output QDQ .onnx")
    parser.add_argument("--eval-data", help="labelled BDD-layout root for the accuracy delta")
    parser.add_argument("--eval-split", default="val")
    add_limit(parser, "images of the evaluation split", flag="--eval-limit")
    parser.add_argument("--runs", type=positive_int, default=30, help="timed runs per model")
    parser.add_argument("--json", dest="report", type=Path, metavar="PATH",
                        help="also write the JSON report to PATH")
    parser.add_argument("--verbose", action="store_true", help="show ONNX Runtime's own log")
    args = parser.parse_args(argv)
    quiet_logs(args.verbose)
    try:  # CalibrationError and QuantizeError are one line (exit 1) already
        check_eval_data(args.eval_data, args.eval_split)
        info = quantize_model(args.model, args.out, args.calib, args.calib_frames,
                              args.calib_every, args.quantize_heads, args.target, args.method,
                              args.calib_topic, args.keep_float,
                              args.quantize_early_stages)
        LOG.info("wrote %s (%d calibration frames, %.0f s)", args.out,
                 info["calibration_frames"], info["seconds"])
        report = build_report(args.model, args.out, info, args.calib, args.eval_data,
                              args.eval_split, args.eval_limit, args.runs)
    except OSError as exc:  # an unreadable model, an unwritable --out
        raise QuantizeError(str(exc)) from exc
    text = json.dumps(report, indent=2)
    if args.report:
        atomic_write_text(args.report, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("mtl-quantize", main))
