"""Frame sources shared by the tools: a video file, an image folder or a rosbag2 bag.

Why: mtl-bdd2bag, mtl-offline and the demo all read "a drive" from one of these; one reader
keeps their frame order, naming and corrupt-frame handling identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mtl_perception.io import rosbag2

VIDEO_SUFFIXES = (".mov", ".mp4", ".avi", ".mkv", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FRAME_NAMES_KEY = "mtl_perception.frame_names"  # bag custom_data: JSON list, one per frame
MAX_CONSECUTIVE_FAILURES = 25  # after this many unreadable frames in a row, the video ended


@dataclass(frozen=True)
class SourceFrame:
    """One frame of a drive: ``name`` is the BDD-style image name used to match labels."""

    index: int
    name: str
    stamp_ns: int
    frame_id: str
    rgb: np.ndarray


@dataclass
class FrameSource:
    """Iterates a drive's frames; ``skipped`` counts unreadable frames seen so far."""

    path: Path
    kind: str  # "video" | "images" | "bag"
    rate_hz: float
    start_ns: int
    frame_id: str
    topic: str | None = None
    skipped: int = 0
    images: list[Path] = field(default_factory=list)

    @property
    def expected_count(self) -> int | None:
        """Frame count when known up front (for progress bars)."""
        if self.kind == "images":
            return len(self.images)
        if self.kind == "video":
            cap = cv2.VideoCapture(str(self.path))
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()
            return count if count > 0 else None
        topic = rosbag2.pick_image_topic(self.path, self.topic)
        return next(t.count for t in rosbag2.topics(self.path) if t.name == topic)

    def _stamp(self, index: int) -> int:
        return self.start_ns + round(index * 1e9 / self.rate_hz)

    def frames(self) -> Iterator[SourceFrame]:
        if self.kind == "bag":
            names = bag_frame_names(self.path)
            for index, frame in enumerate(rosbag2.read_image_frames(self.path, self.topic)):
                name = names[index] if index < len(names) else f"{self.path.name}-{index:07d}.jpg"
                yield SourceFrame(index, name, frame.stamp_ns, frame.frame_id or self.frame_id,
                                  frame.rgb)
        elif self.kind == "images":
            for index, image in enumerate(self.images):
                bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
                if bgr is None:
                    self.skipped += 1
                    continue
                yield SourceFrame(index, image.name, self._stamp(index), self.frame_id,
                                  cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        else:
            yield from self._video_frames()

    def _video_frames(self) -> Iterator[SourceFrame]:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise OSError(f"cannot open video {self.path}")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        index, pending = 0, 0  # pending: failed reads not yet followed by a good frame
        try:
            while total <= 0 or index < total:
                ok, bgr = cap.read()
                index += 1
                if not ok or bgr is None or bgr.size == 0:
                    pending += 1
                    if total <= 0 or pending >= MAX_CONSECUTIVE_FAILURES:
                        break
                    continue
                self.skipped += pending  # a good frame after bad ones: those were corrupt
                pending = 0
                yield SourceFrame(index - 1, f"{self.path.stem}-{index:07d}.jpg",
                                  self._stamp(index - 1), self.frame_id,
                                  cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        finally:
            cap.release()
        if total > 0:
            # Frames the container announced but that never decoded (a truncated tail).
            self.skipped += pending + max(0, total - index)


def bag_frame_names(bag: Path) -> list[str]:
    """Source frame names mtl-bdd2bag stored in the bag (empty for other bags)."""
    raw = rosbag2.custom_data(bag).get(FRAME_NAMES_KEY)
    try:
        names = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


def video_fps(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    return fps if fps > 0 else 30.0


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def list_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


def open_source(
    path: str | Path,
    rate_hz: float | None = None,
    start_ns: int = 0,
    frame_id: str = "camera",
    topic: str | None = None,
) -> FrameSource:
    """A video file, an image folder or a bag; ``rate_hz`` defaults to the video's fps or 10."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    if rosbag2.is_bag(p):
        return FrameSource(p if p.is_dir() else p.parent, "bag", rate_hz or 10.0, start_ns,
                           frame_id, topic)
    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
        return FrameSource(p, "video", rate_hz or video_fps(p), start_ns, frame_id)
    if p.is_dir():
        images = list_images(p)
        if images:
            return FrameSource(p, "images", rate_hz or 10.0, start_ns, frame_id, images=images)
        if list_videos(p):
            raise ValueError(f"{p} holds videos; give one video file (or use mtl-bdd2bag)")
    raise ValueError(f"{p} is not a video ({', '.join(VIDEO_SUFFIXES)}), image folder or bag")
