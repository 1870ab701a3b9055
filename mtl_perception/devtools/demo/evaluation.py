"""What the node published, decoded, scored against the drive's ground truth and drawn."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtl_perception.devtools.demo.stages import IMAGE_TOPIC, NAMESPACE, START_NS, DemoContext


@dataclass
class NodeOutputs:
    """The recorded outputs decoded and keyed by header stamp."""

    boxes: dict[int, list[Any]]
    drivable: dict[int, np.ndarray]
    lane: dict[int, np.ndarray]
    latency_ms: list[float]
    detection_latency_ms: list[float]
    diagnostics: dict[str, str]


def publish_times(path: Path) -> dict[int, float]:
    """mtl-play's --timing-log: header stamp (= log time here) -> publish wall time (s)."""
    times: dict[int, float] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            topic, log_ns, wall_ns = line.split()
            if topic == IMAGE_TOPIC:
                times[int(log_ns)] = int(wall_ns) / 1e9
    return times


def decode_recording(recorder: Any, input_published: dict[int, float]) -> NodeOutputs:
    from mtl_perception.io import rosbag2
    store = rosbag2.typestore()
    boxes: dict[int, list[Any]] = {}
    drivable: dict[int, np.ndarray] = {}
    lane: dict[int, np.ndarray] = {}
    output_arrival: dict[int, float] = {}
    det_arrival: dict[int, float] = {}
    diagnostics: dict[str, str] = {}
    for m in recorder.recording.messages:
        msg = store.deserialize_cdr(m.data, m.msgtype)
        if m.topic == "/diagnostics":
            for status in msg.status:
                if status.name.startswith(NAMESPACE.strip("/")) or "perception" in status.name:
                    diagnostics = {kv.key: kv.value for kv in status.values}
            continue
        stamp = rosbag2.stamp_to_ns(msg.header.stamp)
        if m.topic.endswith("/detections"):
            boxes[stamp] = rosbag2.boxes_from_detections(msg)
            det_arrival[stamp] = m.arrival
            output_arrival[stamp] = max(output_arrival.get(stamp, 0.0), m.arrival)
        else:
            h, w, step = int(msg.height), int(msg.width), int(msg.step)
            mask = np.asarray(msg.data, np.uint8)[: h * step].reshape(h, step)[:, :w].copy()
            (drivable if "drivable" in m.topic else lane)[stamp] = mask
            output_arrival[stamp] = max(output_arrival.get(stamp, 0.0), m.arrival)
    latency = [(output_arrival[s] - input_published[s]) * 1e3
               for s in output_arrival if s in input_published]
    det_latency = [(det_arrival[s] - input_published[s]) * 1e3
                   for s in det_arrival if s in input_published]
    return NodeOutputs(boxes, drivable, lane, latency, det_latency, diagnostics)


def evaluate(ctx: DemoContext, drive: Path, bag: Path, outputs: NodeOutputs,
             class_names: tuple[str, ...], drivable_classes: int) -> dict[str, Any]:
    from mtl_perception.evaluation.evaluator import Evaluator
    from mtl_perception.evaluation.groundtruth import GroundTruth
    from mtl_perception.io import rosbag2
    from mtl_perception.io.sources import bag_frame_names

    truth = GroundTruth.from_bdd_root(drive, "val")
    names = bag_frame_names(bag)
    evaluator = Evaluator(class_names, drivable_classes)
    shape = ctx.args.size
    for index, info in enumerate(rosbag2.read_messages(bag, [IMAGE_TOPIC])):
        stamp = rosbag2.stamp_to_ns(info[3].header.stamp)
        if stamp not in outputs.boxes or stamp not in outputs.drivable or stamp not in outputs.lane:
            continue
        frame_truth = truth.frame(names[index], shape)
        if frame_truth is None:
            raise RuntimeError(f"no ground truth for {names[index]}")
        evaluator.add(frame_truth, outputs.boxes[stamp], outputs.drivable[stamp],
                      outputs.lane[stamp])
    metrics = evaluator.result({
        "source": "perception_node over DDS (recorded)", "conf_threshold": ctx.args.conf,
        "masks": "source resolution", "lane_width_px_at_1280": truth.lane_width_at_1280,
    })
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def render(ctx: DemoContext, bag: Path, outputs: NodeOutputs, n_png: int = 4) -> list[Path]:
    import cv2

    from mtl_perception.evaluation.render import VideoSink, overlay_bgr
    from mtl_perception.io import rosbag2

    video = VideoSink(ctx.out / "overlay.mp4", ctx.args.fps)
    stamps = sorted(set(outputs.boxes) & set(outputs.drivable) & set(outputs.lane))
    picks = {stamps[round(i * (len(stamps) - 1) / max(1, n_png - 1))] for i in range(n_png)
             } if stamps else set()
    pngs = []
    try:
        for frame in rosbag2.read_image_frames(bag, IMAGE_TOPIC):
            s = frame.stamp_ns
            if s not in outputs.boxes or s not in outputs.drivable or s not in outputs.lane:
                continue
            bgr = overlay_bgr(frame.rgb, outputs.boxes[s], outputs.drivable[s], outputs.lane[s])
            video.write(bgr)
            if s in picks:
                path = ctx.out / f"overlay_{(s - START_NS) / 1e9:05.1f}s.png"
                cv2.imwrite(str(path), bgr)
                pngs.append(path)
    finally:
        video.close()
    if video.frames == 0:
        raise RuntimeError("no frame had all three outputs to draw")
    return sorted(pngs)


def latency_rows(outputs: NodeOutputs) -> list[tuple[str, str, str, str]]:
    rows = []
    for label, values in (
        ("end to end over DDS: mtl-play publish -> detections received",
         outputs.detection_latency_ms),
        ("end to end over DDS: mtl-play publish -> all 3 outputs received",
         outputs.latency_ms),
    ):
        if values:
            arr = np.asarray(values)
            rows.append((label, f"{np.percentile(arr, 50):.1f}", f"{np.percentile(arr, 99):.1f}",
                         str(arr.size)))
    d = outputs.diagnostics
    for stage_name in ("decode", "preprocess", "inference", "postprocess", "publish", "total"):
        p50, p99 = d.get(f"{stage_name}_ms_p50"), d.get(f"{stage_name}_ms_p99")
        if p50 is not None:
            rows.append((f"node stage `{stage_name}` (from /diagnostics)",
                         f"{float(p50):.1f}", f"{float(p99 or 'nan'):.1f}",
                         d.get("frames_processed", "?")))
    return rows


