"""mtl-bdd2bag: BDD100K drives (a video, a folder of videos, or an image sequence) -> rosbag2.

Why: users replay drives with ``ros2 bag play`` (or ``mtl-play`` where rosbag2 is missing);
this writes the bag with the ``rosbags`` library, so it needs no ROS install. Unreadable
frames are skipped and counted, and the bag is finalized even when conversion stops early.

Examples::

    mtl-bdd2bag b1c66a42-6f7d68ca.mov --out drive_bag
    mtl-bdd2bag videos/ --out bags/ --compressed --jpeg-quality 85 --resize 360x640
    mtl-bdd2bag images/ --rate 5 --labels det_val.json --camera-info --storage sqlite3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
from tqdm import tqdm

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_limit,
    add_progress,
    add_size,
    positive_float,
)
from mtl_perception.common.errors import MtlError
from mtl_perception.common.types import BoxLabel
from mtl_perception.io import bdd_json as bddjson
from mtl_perception.io import rosbag2
from mtl_perception.io.sources import (
    FRAME_NAMES_KEY,
    FrameSource,
    SourceFrame,
    list_videos,
    open_source,
)

DEFAULT_TOPIC = "/camera/image_raw"
DEFAULT_GT_TOPIC = "/ground_truth/detections"


@dataclass
class ConvertOptions:
    """How frames become messages (one set per run, shared by every video of a folder)."""

    topic: str = DEFAULT_TOPIC
    compressed: bool = False
    jpeg_quality: int = 90
    resize_hw: tuple[int, int] | None = None  # (height, width)
    camera_info: bool = False
    gt_topic: str = DEFAULT_GT_TOPIC
    storage: str = "mcap"
    max_frames: int | None = None
    progress: bool = True


@dataclass
class ConvertResult:
    bag: Path
    frames: int
    skipped: int
    labelled: int
    seconds: float


def image_topic_for(opts: ConvertOptions) -> str:
    """image_transport's convention: JPEG frames live on ``<topic>/compressed``."""
    if opts.compressed and not opts.topic.endswith("/compressed"):
        return opts.topic + "/compressed"
    return opts.topic


def camera_info_topic(image_topic: str) -> str:
    base = image_topic.removesuffix("/compressed")
    return base.rsplit("/", 1)[0] + "/camera_info" if "/" in base.strip("/") else "camera_info"


def convert(
    source: FrameSource,
    out: Path,
    opts: ConvertOptions,
    labels: dict[str, list[BoxLabel]] | None = None,
) -> ConvertResult:
    """Write one drive to one bag; the bag is closed (finalized) whatever happens."""
    t0 = time.perf_counter()
    topic = image_topic_for(opts)
    info_topic = camera_info_topic(topic)
    frames = labelled = 0
    total = source.expected_count
    if opts.max_frames is not None and total is not None:
        total = min(total, opts.max_frames)
    bar = tqdm(total=total, unit="frame", desc=source.path.name, disable=not opts.progress,
               file=sys.stderr)
    names: list[str] = []
    try:
        with rosbag2.BagWriter(out, opts.storage) as writer:
            try:
                for frame in source.frames():
                    if opts.max_frames is not None and frames >= opts.max_frames:
                        break
                    labelled += _write_frame(writer, frame, source, opts, topic, info_topic,
                                             labels)
                    names.append(frame.name)
                    frames += 1
                    bar.update(1)
                    bar.set_postfix(skipped=source.skipped, refresh=False)
            finally:
                # Frame names let mtl-offline match a bag's frames to BDD labels later.
                writer.set_custom_data(FRAME_NAMES_KEY, json.dumps(names))
                writer.set_custom_data("mtl_perception.source", str(source.path.name))
    finally:
        bar.close()
    return ConvertResult(out, frames, source.skipped, labelled, time.perf_counter() - t0)


def _write_frame(
    writer: rosbag2.BagWriter,
    frame: SourceFrame,
    source: FrameSource,
    opts: ConvertOptions,
    topic: str,
    info_topic: str,
    labels: dict[str, list[BoxLabel]] | None,
) -> int:
    """One frame's messages; returns 1 when ground truth was written for it."""
    rgb = frame.rgb
    h0, w0 = rgb.shape[:2]
    if opts.resize_hw is not None and opts.resize_hw != (h0, w0):
        rgb = cv2.resize(rgb, opts.resize_hw[::-1], interpolation=cv2.INTER_AREA)
    h, w = rgb.shape[:2]
    writer.add_image(topic, rgb, frame.stamp_ns, frame.frame_id, opts.compressed,
                     opts.jpeg_quality)
    if opts.camera_info:
        writer.add_camera_info(info_topic, w, h, frame.stamp_ns, frame.frame_id)
    boxes = _frame_labels(labels, source, frame.name, frame.index)
    if boxes is None:
        return 0
    writer.add_detections(opts.gt_topic, bddjson.scale_boxes(boxes, w / w0, h / h0),
                          frame.stamp_ns, frame.frame_id)
    return 1


def _frame_labels(
    labels: dict[str, list[BoxLabel]] | None, source: FrameSource, name: str, index: int
) -> list[BoxLabel] | None:
    if not labels:
        return None
    if source.kind == "video":
        return bddjson.labels_for_video_frame(labels, source.path.stem, name, index,
                                              source.rate_hz)
    return labels.get(name)


class InputError(MtlError):
    """An input or label file that cannot be read: one line, exit 1."""


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-bdd2bag", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="a video (.mov/.mp4), a folder of videos, "
                   "or a folder of images (an image sequence, sorted by name)")
    p.add_argument("--out", type=Path, required=True,
                   help="bag directory (for a folder of videos: a folder, one bag per video)")
    p.add_argument("--storage", choices=rosbag2.STORAGES, default="mcap")
    p.add_argument("--topic", default=DEFAULT_TOPIC,
                   help="image topic; with --compressed, '/compressed' is appended")
    p.add_argument("--compressed", action="store_true",
                   help="write JPEG sensor_msgs/CompressedImage instead of raw rgb8 Image")
    p.add_argument("--jpeg-quality", type=int, default=90, choices=range(1, 101),
                   metavar="1..100")
    p.add_argument("--rate", type=positive_float, default=None,
                   help="frames per second for the stamps (default: video fps, 10 for images)")
    p.add_argument("--frame-id", default="camera")
    p.add_argument("--start-time", type=float, default=None,
                   help="stamp of the first frame, seconds since the epoch (default: now)")
    add_size(p, "--resize", help="scale every frame to this size first")
    p.add_argument("--camera-info", action="store_true",
                   help="also write a pinhole sensor_msgs/CameraInfo per frame")
    p.add_argument("--labels", type=Path, default=None,
                   help="BDD detection JSON (det_20 list, MOT per-video file or folder); "
                   "matching frames get a vision_msgs/Detection2DArray on --gt-topic")
    p.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC)
    add_limit(p, "frames per input")
    add_progress(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start_ns = round((args.start_time if args.start_time is not None else time.time()) * 1e9)
    opts = ConvertOptions(
        topic=args.topic, compressed=args.compressed, jpeg_quality=args.jpeg_quality,
        resize_hw=args.resize,
        camera_info=args.camera_info, gt_topic=args.gt_topic, storage=args.storage,
        max_frames=args.limit, progress=not args.no_progress,
    )
    try:
        labels = bddjson.load_labels(args.labels) if args.labels else None
        inputs = _inputs(args.input, args.out)
    except (OSError, ValueError) as exc:
        raise InputError(str(exc)) from exc
    failed = 0
    for video_or_folder, out in inputs:
        try:
            source = open_source(video_or_folder, args.rate, start_ns, args.frame_id)
            result = convert(source, out, opts, labels)
        except (OSError, ValueError, rosbag2.BagError) as exc:
            print(f"mtl-bdd2bag: {video_or_folder}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{result.bag}: {result.frames} frames on {image_topic_for(opts)}"
              f" ({opts.storage}), {result.skipped} unreadable frames skipped, "
              f"{result.labelled} labelled frames on {opts.gt_topic if labels else '-'}, "
              f"{result.seconds:.1f} s")
        if result.frames == 0:
            failed += 1
    return 1 if failed else 0


def _inputs(path: Path, out: Path) -> list[tuple[Path, Path]]:
    """(input, bag path) pairs: a folder of videos gives one bag per video under ``out``."""
    if path.is_dir() and list_videos(path) and not any(
        p.suffix.lower() in (".jpg", ".jpeg", ".png") for p in path.iterdir()
    ):
        out.mkdir(parents=True, exist_ok=True)
        return [(video, out / video.stem) for video in list_videos(path)]
    return [(path, out)]


if __name__ == "__main__":
    sys.exit(main())
