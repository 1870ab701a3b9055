"""BDD100K label parsing: det_20 frames, lane polylines, drivable-map ids.

Real label files contain oddities (missing fields, zero-size boxes, extra categories). Parsing
never raises on a bad label: it skips it and counts it in ``LabelStats``, so one warning per
dataset can say what was dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtl_perception.common.classes import (
    BDD_CLASSES,
    CATEGORY_ALIASES,
    EXTRA_CATEGORIES,
    VEHICLE,
    VEHICLE_MEMBERS,
    is_crowd,
)
from mtl_perception.common.constants import IGNORE_INDEX
from mtl_perception.io.lanes import poly2d_points

# BDD drivable PNG ids (0 direct, 1 alternative, 2 background) -> ours; anything else -> 255.
_DRIVABLE_LUT_3 = np.full(256, IGNORE_INDEX, np.uint8)
_DRIVABLE_LUT_3[[0, 1, 2]] = [1, 2, 0]
_DRIVABLE_LUT_2 = np.full(256, IGNORE_INDEX, np.uint8)
_DRIVABLE_LUT_2[[0, 1, 2]] = [1, 1, 0]


@dataclass
class LabelStats:
    """Counts of what the parser skipped; ``summary`` is the text of the one warning."""

    malformed_frames: int = 0
    malformed_boxes: int = 0
    malformed_lanes: int = 0
    unknown_categories: dict[str, int] = field(default_factory=dict)
    missing_images: int = 0
    missing_files: list[str] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)  # old category name -> count

    def any(self) -> bool:
        return bool(self.malformed_frames or self.malformed_boxes or self.malformed_lanes
                    or self.unknown_categories or self.missing_images or self.missing_files)

    def summary(self) -> str:
        parts = []
        if self.missing_files:
            parts.append("missing label files: " + ", ".join(self.missing_files))
        for key in ("malformed_frames", "malformed_boxes", "malformed_lanes", "missing_images"):
            if getattr(self, key):
                parts.append(f"{getattr(self, key)} {key.replace('_', ' ')}")
        if self.unknown_categories:
            parts.append(f"unknown categories {dict(self.unknown_categories)}")
        return "; ".join(parts)


def resolve_classes(classes: str | Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """Recipe class option -> (class names, BDD category -> class index).

    ``"bdd"`` (or ``"bdd10"``) is BDD's 10 classes in the documented order; ``"vehicle"`` is
    one merged class of car, truck, bus and train. A list picks BDD categories by name and may
    contain ``"vehicle"`` as one of its entries (e.g. [vehicle, pedestrian, traffic sign]).
    """
    if isinstance(classes, str):
        if classes in ("bdd", "bdd10", "all"):
            classes = BDD_CLASSES
        elif classes == "vehicle":
            classes = ["vehicle"]
        else:
            raise ValueError(f"unknown class option {classes!r} (use 'bdd', 'vehicle' or a list)")
    names = [CATEGORY_ALIASES.get(c, c) for c in classes]
    unknown = set(names) - set(BDD_CLASSES) - {"vehicle"}
    if unknown:
        raise ValueError(f"not BDD100K categories: {sorted(unknown)}")
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        members = VEHICLE_MEMBERS if name == VEHICLE else (name,)
        for m in members:
            if m in index:
                raise ValueError(f"category {m!r} appears twice in the class list")
            index[m] = i
    return names, index


def load_label_list(path: Path, stats: LabelStats) -> dict[str, dict[str, Any]] | None:
    """A BDD label JSON (list of frames) -> {name: frame}; None (counted) if it is absent."""
    if not path.is_file():
        stats.missing_files.append(str(path))
        return None
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict) and "frames" in data:  # Scalabel dataset wrapper
        data = data["frames"]
    frames: dict[str, dict[str, Any]] = {}
    for fr in data if isinstance(data, list) else []:
        if isinstance(fr, dict) and isinstance(fr.get("name"), str):
            frames[fr["name"]] = fr
        else:
            stats.malformed_frames += 1
    return frames


def canonical_category(name: Any) -> Any:
    """Today's name of a BDD category (older releases said person, bike, motor)."""
    return CATEGORY_ALIASES.get(name, name) if isinstance(name, str) else name


def parse_box(label: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """A label's ``box2d`` as finite xyxy with positive size, or None when it has none."""
    b = label.get("box2d")
    if not isinstance(b, dict):
        return None
    try:
        x1, y1, x2, y2 = (float(b[k]) for k in ("x1", "y1", "x2", "y2"))
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def parse_det_frame(frame: dict[str, Any], category_index: dict[str, int], stats: LabelStats
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One det_20 frame -> boxes float32 [M, 4] (xyxy source pixels), classes int64 [M] and
    crowd flags bool [M] (the bdd100k protocol scores crowd boxes as ignore regions)."""
    boxes: list[tuple[float, float, float, float]] = []
    classes: list[int] = []
    crowd: list[bool] = []
    labels = frame.get("labels") or []
    if not isinstance(labels, list):
        stats.malformed_frames += 1
        labels = []
    for lab in labels:
        if not isinstance(lab, dict):
            stats.malformed_boxes += 1
            continue
        cat = canonical_category(lab.get("category"))
        if lab.get("category") in CATEGORY_ALIASES:
            old = str(lab["category"])
            stats.aliases[old] = stats.aliases.get(old, 0) + 1
        if cat not in BDD_CLASSES:
            if cat not in EXTRA_CATEGORIES:
                key = str(cat)
                stats.unknown_categories[key] = stats.unknown_categories.get(key, 0) + 1
            continue
        box = parse_box(lab)
        if box is None:
            stats.malformed_boxes += 1
            continue
        if cat in category_index:
            boxes.append(box)
            classes.append(category_index[cat])
            crowd.append(is_crowd(lab))
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64),
            np.asarray(crowd, bool))


def parse_lane_frame(frame: dict[str, Any], stats: LabelStats,
                     directions: Sequence[str] = ("parallel", "vertical")) -> list[np.ndarray]:
    """One lane-polygons frame -> polylines (float32 [N, 2], source pixels).

    ``directions`` filters on the ``laneDirection`` attribute (e.g. only "parallel" lanes).
    """
    out: list[np.ndarray] = []
    labels = frame.get("labels") or []
    for lab in labels if isinstance(labels, list) else []:
        try:
            attrs = lab.get("attributes") or {}
            if attrs.get("laneDirection", "parallel") not in directions:
                continue
            polys = lab["poly2d"]
            if not isinstance(polys, list) or not polys:
                raise ValueError("empty poly2d")
            out.extend(poly2d_points(p) for p in polys)
        except (KeyError, TypeError, ValueError, AttributeError):
            stats.malformed_lanes += 1
    return out


def remap_drivable(png: np.ndarray, drivable_classes: int = 3) -> np.ndarray:
    """BDD drivable ids -> ours (3: 0 bg / 1 direct / 2 alternative; 2: 0 bg / 1 drivable)."""
    if drivable_classes not in (2, 3):
        raise ValueError("drivable_classes must be 2 or 3")
    lut = _DRIVABLE_LUT_3 if drivable_classes == 3 else _DRIVABLE_LUT_2
    return lut[png]
