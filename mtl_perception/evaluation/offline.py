"""mtl-offline: the node's pipeline without DDS, on bags, videos or image folders.

Why: to look at results and score a model on whole drives without starting ROS. Every frame
goes through ``inference.pipeline.Pipeline`` (the node's letterbox -> backend -> NMS ->
un-letterbox) and is drawn with ``inference.overlay``, so what you see is what the node
would publish.

Outputs in ``--out`` (with several inputs, one sub-folder per input, named by the input's
path relative to the working directory without its suffix: ``a/imgs`` and ``b/imgs`` write
``OUT/a/imgs`` and ``OUT/b/imgs``; inputs that would share a folder are refused up front):
  overlay.mp4            the annotated drive (mp4v; see evaluation/render.py)
  predictions.json       BDD-format detections (name, labels[category, box2d, score])
  masks/{drivable,lane}/ class-id PNGs per frame (--masks)
  outputs_bag/           the node's topics (detections, drivable_area/mask, lane/mask) with
                         the input stamps, to replay next to the input (--out-bag)
  metrics.json           when labels are found (--labels/--bdd-root, or a bag's GT topic)

Examples::

    mtl-offline drive_bag --model model.onnx --out results/
    mtl-offline b1c66a42-6f7d68ca.mov --model model.onnx --out results/ --masks --out-bag
    mtl-offline synth/images/100k/val --model model.onnx --out results/ --bdd-root synth
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from mtl_perception.common.cli_args import ArgumentParser, add_limit, add_progress, positive_float
from mtl_perception.common.errors import MtlError, UsageError
from mtl_perception.common.types import BoxLabel
from mtl_perception.evaluation.evaluator import Evaluator, FrameTruth, format_headline
from mtl_perception.evaluation.groundtruth import GroundTruth
from mtl_perception.evaluation.render import VideoSink, detections_to_boxes, overlay_bgr
from mtl_perception.inference.backends import BACKENDS
from mtl_perception.io import bdd_json as bddjson
from mtl_perception.io import rosbag2
from mtl_perception.io.sources import FrameSource, open_source

# The node's output topics (relative names; --namespace prefixes them).
NODE_TOPICS = {"detections": "detections", "drivable": "drivable_area/mask",
               "lane": "lane/mask"}


class OfflineError(MtlError):
    """A model, label or input file that cannot be used: one line, exit 1."""


@dataclass
class OfflineOptions:
    out_dir: Path
    masks: bool = False
    out_bag: bool = False
    namespace: str = ""
    video: bool = True
    max_frames: int | None = None
    gt_topic: str = "/ground_truth/detections"
    progress: bool = True


@dataclass
class OfflineResult:
    frames: int = 0
    skipped: int = 0
    seconds: float = 0.0
    timings_ms: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    outputs: dict[str, str] = field(default_factory=dict)


def topic_name(namespace: str, relative: str) -> str:
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return f"{ns}/{relative}"


def _bag_truth(source: FrameSource, gt_topic: str) -> dict[int, list[BoxLabel]]:
    """Ground-truth boxes stored in the input bag itself (mtl-bdd2bag --labels)."""
    if source.kind != "bag":
        return {}
    if gt_topic not in {t.name for t in rosbag2.topics(source.path)}:
        return {}
    return rosbag2.read_detections(source.path, gt_topic)


def run_offline(
    source: FrameSource,
    pipeline: Any,
    opts: OfflineOptions,
    truth: GroundTruth | None = None,
) -> OfflineResult:
    """Process one drive; ``pipeline`` is an ``inference.pipeline.Pipeline``."""
    out = opts.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result = OfflineResult()
    spec = pipeline.spec
    bag_gt = _bag_truth(source, opts.gt_topic)
    evaluator = (Evaluator(spec.detection_classes, len(spec.drivable_classes))
                 if truth is not None or bag_gt else None)
    video = VideoSink(out / "overlay.mp4", source.rate_hz) if opts.video else None
    writer = None
    if opts.out_bag:
        writer = rosbag2.BagWriter(out / "outputs_bag")
        writer.__enter__()
    if opts.masks:
        for task in ("drivable", "lane"):
            (out / "masks" / task).mkdir(parents=True, exist_ok=True)
    predictions: list[tuple[str, list[BoxLabel]]] = []
    total = source.expected_count
    if opts.max_frames is not None:
        total = min(total or opts.max_frames, opts.max_frames)
    bar = tqdm(total=total, unit="frame", desc=source.path.name, disable=not opts.progress,
               file=sys.stderr)
    t0 = time.perf_counter()
    try:
        for frame in source.frames():
            if opts.max_frames is not None and result.frames >= opts.max_frames:
                break
            res = pipeline.process(frame.rgb, "rgb")
            for stage, ms in res.timings_ms.items():
                result.timings_ms.setdefault(stage, []).append(ms)
            boxes = detections_to_boxes(res.detections)
            predictions.append((frame.name, boxes))
            if video is not None:
                video.write(overlay_bgr(frame.rgb, res.detections, res.drivable, res.lane))
            if opts.masks:
                stem = Path(frame.name).stem
                cv2.imwrite(str(out / "masks" / "drivable" / f"{stem}.png"), res.drivable)
                cv2.imwrite(str(out / "masks" / "lane" / f"{stem}.png"), res.lane)
            if writer is not None:
                _write_outputs(writer, opts.namespace, frame.stamp_ns, frame.frame_id, boxes,
                               res.drivable, res.lane)
            if evaluator is not None:
                frame_truth = _truth_for(truth, bag_gt, frame.name, frame.stamp_ns,
                                         frame.rgb.shape[:2])
                if frame_truth is not None:
                    evaluator.add(frame_truth, boxes, res.drivable, res.lane)
            result.frames += 1
            bar.update(1)
    finally:
        bar.close()
        if video is not None:
            video.close()
        if writer is not None:
            writer.close()
    result.seconds = time.perf_counter() - t0
    result.skipped = source.skipped
    bddjson.write_predictions(out / "predictions.json", predictions)
    result.outputs["predictions"] = str(out / "predictions.json")
    if video is not None:
        result.outputs["video"] = str(video.path)
    if writer is not None:
        result.outputs["bag"] = str(out / "outputs_bag")
    if evaluator is not None and any(evaluator.frames.values()):
        t = pipeline.thresholds
        result.metrics = evaluator.result({
            "source": "mtl-offline (Pipeline, host NMS)", "conf_threshold": t.confidence,
            "nms_iou": t.iou, "max_detections": t.max_detections,
            "masks": "source resolution", "lane_width_px_at_1280": truth.lane_width_at_1280
            if truth is not None else None,
        })
        (out / "metrics.json").write_text(json.dumps(result.metrics, indent=1))
        result.outputs["metrics"] = str(out / "metrics.json")
    return result


def _truth_for(
    truth: GroundTruth | None,
    bag_gt: dict[int, list[BoxLabel]],
    name: str,
    stamp_ns: int,
    shape_hw: tuple[int, int],
) -> FrameTruth | None:
    found = truth.frame(name, shape_hw) if truth is not None else None
    if stamp_ns in bag_gt:
        if found is None:
            return FrameTruth(bag_gt[stamp_ns], None, None)
        if not found.boxes:
            found.boxes = bag_gt[stamp_ns]
            found.crowd = [b.crowd for b in found.boxes]
    return found


def _write_outputs(
    writer: rosbag2.BagWriter,
    namespace: str,
    stamp_ns: int,
    frame_id: str,
    boxes: Sequence[BoxLabel],
    drivable: np.ndarray,
    lane: np.ndarray,
) -> None:
    writer.add_detections(topic_name(namespace, NODE_TOPICS["detections"]), boxes, stamp_ns,
                          frame_id)
    writer.add_mask(topic_name(namespace, NODE_TOPICS["drivable"]), drivable, stamp_ns, frame_id)
    writer.add_mask(topic_name(namespace, NODE_TOPICS["lane"]), lane, stamp_ns, frame_id)


def latency_summary(timings_ms: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50/p99/mean per stage (first frame excluded as warm-up when there are more)."""
    out = {}
    for stage, values in timings_ms.items():
        arr = np.asarray(values[1:] if len(values) > 1 else values, np.float64)
        out[stage] = {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
                      "mean": float(arr.mean()), "n": int(arr.size)}
    return out


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-offline", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[6:]))
    p.add_argument("inputs", type=Path, nargs="+", help="bags, videos or image folders")
    p.add_argument("--model", type=Path, required=True, help="exported .onnx (or .engine)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--backend", default="auto", choices=BACKENDS)
    p.add_argument("--conf", type=float, default=None, help="default: the model's own")
    p.add_argument("--iou", type=float, default=None)
    p.add_argument("--max-det", type=int, default=None)
    p.add_argument("--topic", default=None, help="image topic of a bag (default: its only one)")
    p.add_argument("--rate", type=positive_float, default=None,
                   help="frame rate of image folders")
    p.add_argument("--masks", action="store_true", help="write class-id mask PNGs")
    p.add_argument("--out-bag", action="store_true", help="write the node's topics to a bag")
    p.add_argument("--namespace", default="", help="namespace of the output-bag topics")
    p.add_argument("--no-video", action="store_true")
    p.add_argument("--labels", type=Path, default=None, help="BDD detection JSON")
    p.add_argument("--drivable-masks", type=Path, default=None, help="BDD drivable PNG folder")
    p.add_argument("--lane-labels", type=Path, default=None, help="BDD lane polygons JSON")
    p.add_argument("--bdd-root", type=Path, default=None,
                   help="BDD-layout root; finds all three label kinds for --split")
    p.add_argument("--split", default="val")
    p.add_argument("--gt-topic", default="/ground_truth/detections",
                   help="ground-truth Detection2DArray topic in an input bag")
    add_limit(p, "frames per input")
    add_progress(p)
    return p


def load_truth(args: argparse.Namespace) -> GroundTruth | None:
    if args.bdd_root is not None:
        return GroundTruth.from_bdd_root(args.bdd_root, args.split)
    if args.labels or args.drivable_masks or args.lane_labels:
        return GroundTruth(args.labels, args.drivable_masks, args.lane_labels)
    return None


def output_dirs(inputs: Sequence[Path], out: Path) -> dict[Path, Path]:
    """Input -> its own output folder; ValueError naming two inputs that would share one."""
    if len(inputs) == 1:
        return {inputs[0]: out}
    dirs: dict[Path, Path] = {}
    owner: dict[Path, Path] = {}
    cwd = Path.cwd().resolve()
    for path in inputs:
        full = path.resolve()
        rel = full.relative_to(cwd) if full.is_relative_to(cwd) else full.relative_to(
            full.anchor)
        key = out / rel.with_suffix("") if rel.suffix else out / rel
        if key in owner:
            raise ValueError(f"{owner[key]} and {path} would both write {key}; "
                             "give them separately with their own --out")
        owner[key] = path
        dirs[path] = key
    return dirs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out_dirs = output_dirs(args.inputs, args.out)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    from mtl_perception.inference.backends import load_backend
    from mtl_perception.inference.pipeline import Pipeline

    try:
        truth = load_truth(args)
        backend = load_backend(args.model, args.backend)
        pipeline = Pipeline(backend, conf=args.conf, iou=args.iou, max_det=args.max_det)
    except (OSError, ValueError) as exc:
        raise OfflineError(str(exc)) from exc
    failed = 0
    try:
        for path in args.inputs:
            out = out_dirs[path]
            opts = OfflineOptions(out, args.masks, args.out_bag, args.namespace,
                                  not args.no_video, args.limit, args.gt_topic,
                                  not args.no_progress)
            try:
                source = open_source(path, args.rate, topic=args.topic)
                result = run_offline(source, pipeline, opts, truth)
            except (OSError, ValueError, rosbag2.BagError) as exc:
                print(f"mtl-offline: {path}: {exc}", file=sys.stderr)
                failed += 1
                continue
            lat = latency_summary(result.timings_ms).get("total", {})
            print(f"{path}: {result.frames} frames ({result.skipped} unreadable skipped) in "
                  f"{result.seconds:.1f} s; pipeline p50 {lat.get('p50', float('nan')):.1f} ms; "
                  f"wrote {', '.join(result.outputs.values())}")
            if result.metrics is not None:
                print(f"{path}: {format_headline(result.metrics)}")
            if result.frames == 0:
                failed += 1
    finally:
        pipeline.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
