"""BDD100K detection JSON in and out (the official ``det_20`` / MOT layouts).

Why: the tools attach ground truth to bag frames and write predictions that BDD's own
tooling and our evaluator read; both need the same name matching rules:
  * image labels (``det_20``): a frame's ``name`` is its image file name;
  * tracking labels (MOT 2020): ``videoName`` + ``frameIndex`` (0-based) name the frame
    ``<videoName>-<frameIndex + 1:07d>.jpg``, which is how sources.py names video frames;
  * the 100k images are the frame at second 10 of the video of the same stem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mtl_perception.common.classes import is_crowd
from mtl_perception.common.types import BoxLabel
from mtl_perception.io.bdd_labels import canonical_category, parse_box

KEYFRAME_SECONDS = 10.0


def _frame_names(frame: dict[str, Any]) -> list[str]:
    """Every name a frame answers to: its ``name`` and, for MOT frames, the video-frame name."""
    names = [str(frame["name"])] if "name" in frame else []
    if "videoName" in frame and "frameIndex" in frame:
        names.append(f"{frame['videoName']}-{int(frame['frameIndex']) + 1:07d}.jpg")
    return names


def parse_frames(frames: Iterable[dict[str, Any]]) -> dict[str, list[BoxLabel]]:
    """BDD frame dicts -> {frame name: boxes}.

    Boxes are read by the dataset's own parser (:func:`bdd_labels.parse_box`), so the tools
    and training agree on which labels count: labels without a valid ``box2d`` (lanes,
    areas, zero-size or non-finite boxes) are skipped and old category names are renamed.
    """
    result: dict[str, list[BoxLabel]] = {}
    for frame in frames:
        boxes = []
        labels = frame.get("labels") or []
        for label in labels if isinstance(labels, list) else []:
            box = parse_box(label) if isinstance(label, dict) else None
            if box is None or not isinstance(label.get("category"), str):
                continue
            boxes.append(BoxLabel(*box, canonical_category(label["category"]),
                                  float(label.get("score", 1.0)), is_crowd(label)))
        for name in _frame_names(frame):
            result[name] = boxes
    return result


def load_labels(path: str | Path) -> dict[str, list[BoxLabel]]:
    """A det_20 JSON list, a MOT per-video list, a folder of per-video files, or one frame."""
    p = Path(path)
    if p.is_dir():
        merged: dict[str, list[BoxLabel]] = {}
        for file in sorted(p.glob("*.json")):
            merged.update(load_labels(file))
        return merged
    raw = json.loads(p.read_text())
    if isinstance(raw, dict):
        raw = raw.get("frames", [raw])
    if not isinstance(raw, list):
        raise ValueError(f"{p}: expected a list of BDD frames")
    return parse_frames(raw)


def labels_for_video_frame(
    labels: dict[str, list[BoxLabel]], stem: str, frame_name: str, index: int, fps: float
) -> list[BoxLabel] | None:
    """Labels of one video frame: by MOT frame name, else the 100k keyframe at second 10."""
    if frame_name in labels:
        return labels[frame_name]
    if index == round(KEYFRAME_SECONDS * fps):
        return labels.get(f"{stem}.jpg")
    return None


def scale_boxes(boxes: Sequence[BoxLabel], sx: float, sy: float) -> list[BoxLabel]:
    return [BoxLabel(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy, b.label, b.score, b.crowd)
            for b in boxes]


def to_frames(predictions: Iterable[tuple[str, Sequence[BoxLabel]]]) -> list[dict[str, Any]]:
    """(name, boxes) pairs -> BDD frame dicts with ``score`` on each label."""
    frames = []
    for name, boxes in predictions:
        frames.append({
            "name": name,
            "labels": [
                {"id": str(i), "category": b.label, "score": round(float(b.score), 5),
                 "box2d": {"x1": round(float(b.x1), 2), "y1": round(float(b.y1), 2),
                           "x2": round(float(b.x2), 2), "y2": round(float(b.y2), 2)}}
                for i, b in enumerate(boxes)
            ],
        })
    return frames


def write_predictions(path: str | Path,
                      predictions: Iterable[tuple[str, Sequence[BoxLabel]]]) -> None:
    Path(path).write_text(json.dumps(to_frames(predictions), indent=1))
