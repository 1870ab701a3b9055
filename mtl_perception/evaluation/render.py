"""Results -> pictures and files: the overlay MP4 writer and box conversions (offline, demo).

Why: mtl-offline renders pipeline results and the demo renders what the node published; both
draw with ``inference.overlay`` and write video the same way, so their pictures match.

MP4 is written with OpenCV's ``mp4v`` (MPEG-4 Part 2) codec: the opencv-python wheels ship an
FFmpeg without an H.264 encoder, so ``avc1`` cannot be written here. Every common player
(VLC, ffplay, browsers via ffmpeg transcode) reads mp4v; ``ffmpeg -i overlay.mp4 -c:v libx264
overlay_h264.mp4`` converts it where H.264 is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mtl_perception.common.types import BoxLabel
from mtl_perception.inference.overlay import draw_overlay
from mtl_perception.inference.postprocess import Detections

FOURCC = "mp4v"


def detections_to_boxes(detections: Detections) -> list[BoxLabel]:
    return [BoxLabel(float(b[0]), float(b[1]), float(b[2]), float(b[3]), str(n), float(s))
            for b, s, n in zip(detections.boxes, detections.scores, detections.class_names,
                               strict=True)]


def boxes_to_detections(boxes: Sequence[BoxLabel], class_names: Sequence[str]) -> Detections:
    """Boxes with class names (e.g. from a Detection2DArray) -> Detections for drawing."""
    if not boxes:
        return Detections.empty()
    index = {n: i for i, n in enumerate(class_names)}
    return Detections(
        boxes=np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], np.float32),
        scores=np.array([b.score for b in boxes], np.float32),
        class_ids=np.array([index.get(b.label, len(index)) for b in boxes], np.int64),
        class_names=[b.label for b in boxes],
    )


def overlay_bgr(
    rgb: np.ndarray,
    boxes: Sequence[BoxLabel] | Detections,
    drivable: np.ndarray | None,
    lane: np.ndarray | None,
    class_names: Sequence[str] = (),
) -> np.ndarray:
    """The node's overlay picture for one frame (BGR)."""
    dets = boxes if isinstance(boxes, Detections) else boxes_to_detections(boxes, class_names)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return draw_overlay(bgr, dets, drivable, lane, copy=False)


class VideoSink:
    """Writes BGR frames to an MP4; opens lazily at the first frame's size."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps if fps > 0 else 10.0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        size = (bgr.shape[1], bgr.shape[0])
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*FOURCC),
                                           self.fps, size)
            if not self._writer.isOpened():
                raise OSError(f"cannot write {self.path} with codec {FOURCC}")
            self._size = size
        if size != self._size:
            bgr = cv2.resize(bgr, self._size)
        self._writer.write(bgr)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def count_video_frames(path: Path) -> int:
    """Frames an MP4 actually decodes to (for checks and tests)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n
