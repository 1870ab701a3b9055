"""Ground truth of a drive, in source-image pixels, for mtl-offline and the demo.

Why: both score frames that went through the real pipeline (offline, or the node over DDS)
against BDD-layout labels; this reads the labels once and hands out one frame's truth by name,
with the class-id conventions of docs/architecture.md (drivable 0 = background, 1 = direct,
2 = alternative; lane 0/1). Lane masks are rasterized from BDD's polylines with the training
code's own rasterizer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtl_perception.evaluation.evaluator import FrameTruth
from mtl_perception.io import bdd_json as bddjson

# dataset uses, so offline/demo lane IoU means what mtl-eval's does. YOLOP-style papers draw
# thinner evaluation masks; pass lane_width_at_1280 to follow them.
EVAL_LANE_WIDTH_AT_1280 = 8.0


class GroundTruth:
    """BDD-layout labels: detection JSON, drivable PNG folder, lane polygons JSON."""

    def __init__(
        self,
        det_json: Path | None = None,
        drivable_dir: Path | None = None,
        lane_json: Path | None = None,
        lane_width_at_1280: float = EVAL_LANE_WIDTH_AT_1280,
    ) -> None:
        self.boxes = bddjson.load_labels(det_json) if det_json else {}
        self.drivable_dir = drivable_dir
        self.lanes: dict[str, list[dict[str, Any]]] = {}
        if lane_json:
            for frame in json.loads(Path(lane_json).read_text()):
                self.lanes[str(frame["name"])] = frame.get("labels") or []
        self.lane_width_at_1280 = lane_width_at_1280

    @classmethod
    def from_bdd_root(cls, root: Path, split: str) -> GroundTruth:
        """``root`` in BDD100K's layout (as mtl-synth writes it); missing parts are skipped."""
        det = root / "labels" / "det_20" / f"det_{split}.json"
        drivable = root / "labels" / "drivable" / "masks" / split
        lane = root / "labels" / "lane" / "polygons" / f"lane_{split}.json"
        if not (det.is_file() or drivable.is_dir() or lane.is_file()):
            raise FileNotFoundError(f"no BDD labels for split {split!r} under {root}")
        return cls(det if det.is_file() else None, drivable if drivable.is_dir() else None,
                   lane if lane.is_file() else None)

    @property
    def has_detection(self) -> bool:
        return bool(self.boxes)

    def frame(self, name: str, shape_hw: tuple[int, int]) -> FrameTruth | None:
        """Truth for image ``name`` at the size the frame was processed (labels rescaled)."""
        boxes = self.boxes.get(name)
        label_hw = self.label_size(name)
        if boxes and label_hw is not None and label_hw != shape_hw:
            boxes = bddjson.scale_boxes(boxes, shape_hw[1] / label_hw[1],
                                        shape_hw[0] / label_hw[0])
        drivable = self._drivable(name, shape_hw)
        lane = self._lane(name, shape_hw, drivable)
        if boxes is None and drivable is None and lane is None:
            return None
        boxes = boxes or []
        return FrameTruth(boxes, drivable, lane, [b.crowd for b in boxes])

    def label_size(self, name: str) -> tuple[int, int] | None:
        if self.drivable_dir is not None:
            png = self.drivable_dir / (Path(name).stem + ".png")
            if png.is_file():
                img = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
                if img is not None:
                    return img.shape[:2]
        return None

    def _drivable(self, name: str, shape_hw: tuple[int, int]) -> np.ndarray | None:
        if self.drivable_dir is None:
            return None
        png = self.drivable_dir / (Path(name).stem + ".png")
        raw = cv2.imread(str(png), cv2.IMREAD_UNCHANGED) if png.is_file() else None
        if raw is None:
            return None
        if raw.ndim == 3:
            raw = raw[..., 0]
        from mtl_perception.io.bdd_labels import remap_drivable

        ours = remap_drivable(raw, 3)
        if ours.shape != shape_hw:
            ours = cv2.resize(ours, shape_hw[::-1], interpolation=cv2.INTER_NEAREST)
        return ours

    def _lane(self, name: str, shape_hw: tuple[int, int],
              drivable: np.ndarray | None) -> np.ndarray | None:
        if name not in self.lanes:
            return None
        from mtl_perception.io.bdd_labels import LabelStats, parse_lane_frame
        from mtl_perception.io.lanes import rasterize_lanes, scaled_lane_width

        label_hw = self.label_size(name) or shape_hw
        sy, sx = shape_hw[0] / label_hw[0], shape_hw[1] / label_hw[1]
        frame = {"name": name, "labels": self.lanes[name]}
        lines = [p * np.float32([sx, sy]) for p in parse_lane_frame(frame, LabelStats())]
        width = scaled_lane_width(self.lane_width_at_1280, shape_hw[1])
        return rasterize_lanes(lines, shape_hw, width)

