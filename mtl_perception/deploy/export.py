"""``mtl-export``: checkpoint -> self-describing ONNX model (opset 17, TensorRT 8.5+ parseable).

The graph takes uint8 NHWC RGB and returns decoded boxes, scores and uint8 masks (see
:mod:`export_wrapper`); ``metadata_props`` carry the :class:`ModelSpec`, so the node needs
nothing but the file. The graph is checked against an allowlist of operators that
TensorRT 8.5's ONNX parser supports, with no control flow, before it is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from mtl_perception.common.atomic_files import atomic_write_bytes, file_sha256
from mtl_perception.common.cli_args import ArgumentParser, add_out, parse_hw, run_cli
from mtl_perception.common.constants import IMAGENET_MEAN, IMAGENET_STD
from mtl_perception.common.errors import MtlError
from mtl_perception.deploy.export_wrapper import OUTPUT_NAMES, ExportWrapper
from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec
from mtl_perception.training.config.recipe import with_input_size
from mtl_perception.training.model.network import (
    MultiTaskNet,
    model_from_checkpoint,
)

LOG = logging.getLogger("mtl-export")
OPSET = 17
PAPER_RESOLUTIONS = ((256, 384), (256, 512), (384, 640), (768, 1280))
# Operators this exporter may emit: all supported by TensorRT 8.5's ONNX parser
# (onnx-tensorrt release/8.5-GA docs/operators.md). Control flow (If, Loop, Scan) and
# data-dependent shapes (NonZero, NonMaxSuppression, Unique) are deliberately absent.
TRT85_SAFE_OPS = frozenset(
    {
        "Add", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
        "Conv", "ConvTranspose", "Div", "Expand", "Flatten", "Gather", "GlobalAveragePool",
        "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "MatMul", "Max", "MaxPool", "Min",
        "Mul", "Pad", "Pow", "Range", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape",
        "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Tanh",
        "Transpose", "Unsqueeze",
    }
)


class ExportError(MtlError, RuntimeError):
    """The model cannot be exported in a form the node and TensorRT accept."""


def parse_resolution(text: str) -> tuple[int, int]:
    """``"384x640"`` -> (384, 640): the shared HxW grammar, plus multiples of 32 (stride)."""
    h, w = parse_hw(text)
    if h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"resolution {text} must be positive multiples of 32")
    return h, w


def recipe_sha256(recipe: dict[str, Any]) -> str:
    """Full sha256 of the canonical recipe JSON (recipe.recipe_hash is its 16-char prefix)."""
    blob = json.dumps(recipe, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def at_resolution(model: MultiTaskNet, hw: tuple[int, int]) -> MultiTaskNet:
    """Retarget a loaded model to another input size; anchors (pixels) scale with the image."""
    if tuple(hw) == tuple(model.input_size):
        return model
    scaled = with_input_size(model.recipe, hw)
    with torch.no_grad():
        model.anchors.copy_(torch.tensor(scaled["anchors"], dtype=torch.float32).view(-1, 3, 2))
    model.input_size = (int(hw[0]), int(hw[1]))
    return model


def model_spec(model: MultiTaskNet, checkpoint_sha256: str = "") -> ModelSpec:
    """The ModelSpec for ``model`` as exported (input size = its current input_size)."""
    h, w = model.input_size
    return ModelSpec(
        input_height=int(h),
        input_width=int(w),
        detection_classes=tuple(model.class_names),
        drivable_classes=tuple(model.drivable_classes),
        lane_classes=tuple(model.lane_classes),
        mean=tuple(float(v) for v in IMAGENET_MEAN),  # type: ignore[arg-type]
        std=tuple(float(v) for v in IMAGENET_STD),  # type: ignore[arg-type]
        needs_nms=True,
        recipe_name=model.recipe_name,
        recipe_sha256=recipe_sha256(model.recipe),
        checkpoint_sha256=checkpoint_sha256,
    )


def graph_problems(proto: onnx.ModelProto) -> list[str]:
    """Reasons TensorRT 8.5 would reject (or mis-handle) this graph; empty when fine."""
    problems = []
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    if opsets.get("ai.onnx") != OPSET:
        problems.append(f"opset {opsets.get('ai.onnx')} (need {OPSET})")
    custom = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        problems.append(f"custom op domains {custom}")
    unsafe = sorted({n.op_type for n in proto.graph.node} - TRT85_SAFE_OPS)
    if unsafe:
        problems.append(f"operators outside the TensorRT 8.5-safe set: {unsafe}")
    return problems


def trace_to_onnx(
    wrapper: ExportWrapper, hw: tuple[int, int], dynamic: bool, slim: bool = True
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Trace ``wrapper`` at ``hw`` (opset 17, TorchScript exporter) and optionally onnxslim it."""
    import io

    dummy = torch.randint(0, 256, (1, hw[0], hw[1], 3), dtype=torch.uint8)
    axes = {name: {0: "batch"} for name in ("image", *OUTPUT_NAMES)} if dynamic else None
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # Spatial sizes are traced as constants on purpose (fixed resolution); say so once here
        # rather than let the tracer warn about every shape it reads.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper,
            (dummy,),
            buf,
            opset_version=OPSET,
            input_names=["image"],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            do_constant_folding=True,
            dynamo=False,  # the dynamo exporter targets opset 18+; TensorRT 8.5 stops at 17
        )
    proto = onnx.load_from_string(buf.getvalue())
    stats: dict[str, Any] = {"nodes_traced": len(proto.graph.node)}
    if slim:
        import onnxslim

        proto = onnxslim.slim(proto)
    stats["nodes"] = len(proto.graph.node)
    stats["ops"] = dict(Counter(n.op_type for n in proto.graph.node).most_common())
    return proto, stats


def set_spec(proto: onnx.ModelProto, spec: ModelSpec) -> None:
    """Store the ModelSpec JSON under ``metadata_props[METADATA_KEY]`` (replacing any)."""
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**dict(keep), METADATA_KEY: spec.to_json()})


@dataclass
class ExportResult:
    path: Path
    spec: ModelSpec
    stats: dict[str, Any]


def export_model(
    model: MultiTaskNet,
    out: str | Path,
    hw: tuple[int, int] | None = None,
    dynamic: bool = False,
    slim: bool = True,
    checkpoint_sha256: str = "",
) -> ExportResult:
    """Export ``model`` (eval mode) to ``out``; raises ExportError if the graph is unsafe."""
    model = at_resolution(model.eval(), hw or model.input_size)
    spec = model_spec(model, checkpoint_sha256)
    proto, stats = trace_to_onnx(ExportWrapper(model).eval(), model.input_size, dynamic, slim)
    problems = graph_problems(proto)
    if problems:
        raise ExportError("; ".join(problems))
    onnx.checker.check_model(proto)
    set_spec(proto, spec)
    data = proto.SerializeToString()
    atomic_write_bytes(out, data)
    stats["bytes"] = len(data)
    return ExportResult(Path(out), spec, stats)


def parity(
    model: MultiTaskNet, onnx_path: str | Path, image: np.ndarray
) -> dict[str, float]:
    """Run PyTorch and ONNX Runtime on one uint8 [H, W, 3] image and compare.

    ``boxes_max_rel`` is max |ort - torch| / max(|torch|, 1 px): relative for coordinates of a
    pixel or more, absolute below that (a relative error at 0.01 px means nothing).
    """
    import onnxruntime as ort

    wrapper = ExportWrapper(model.eval()).eval()
    batch = image[None]
    with torch.no_grad():
        ref = [t.numpy() for t in wrapper(torch.from_numpy(batch))]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(list(OUTPUT_NAMES), {"image": batch})
    boxes_ref, boxes = ref[0], got[0]
    rel = np.abs(boxes - boxes_ref) / np.maximum(np.abs(boxes_ref), 1.0)
    return {
        "boxes_max_rel": float(rel.max()),
        "scores_max_abs": float(np.abs(got[1] - ref[1]).max()),
        "drivable_agree": float((got[2] == ref[2]).mean()),
        "lane_agree": float((got[3] == ref[3]).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="mtl-export", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="checkpoint written by mtl-train")
    parser.add_argument("--resolution", type=parse_resolution, default=None, metavar="HxW",
                        help="network input, height x width, multiples of 32 (default: the "
                             "recipe's input_size)")
    parser.add_argument("--dynamic", action="store_true", help="dynamic batch dimension")
    add_out(parser, required=True, help="output .onnx path")
    parser.add_argument("--no-slim", action="store_true", help="skip onnxslim simplification")
    parser.add_argument("--check", action="store_true",
                        help="compare ONNX Runtime with PyTorch on one random frame")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    model, _ = model_from_checkpoint(args.weights)  # CheckpointError: one line, exit 1
    try:
        result = export_model(model, args.out, args.resolution, args.dynamic,
                              not args.no_slim, file_sha256(args.weights))
    except (OSError, ValueError) as exc:  # unwritable --out, a shape the tracer refuses
        raise ExportError(str(exc)) from exc
    s = result.stats
    LOG.info("wrote %s: %dx%d, %d nodes (%d traced), %.1f MB, opset %d%s",
             result.path, result.spec.input_height, result.spec.input_width, s["nodes"],
             s["nodes_traced"], s["bytes"] / 1e6, OPSET, ", dynamic batch" if args.dynamic else "")
    if args.check:
        h, w = result.spec.input_height, result.spec.input_width
        frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        LOG.info("parity vs PyTorch: %s", json.dumps(parity(model, result.path, frame)))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("mtl-export", main))
