"""Score pipeline outputs frame by frame with the training metrics (mtl-offline, the demo).

Why: mtl-eval scores a torch checkpoint on letterboxed batches; the tools score what the
deployed pipeline produced (ONNX model, host NMS at the node's thresholds, masks at source
size). The metric definitions are the training ones (``training/metrics.py``), so only the
inputs differ, and the summary says which thresholds were used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_perception.bagio import BoxLabel
from mtl_perception.tools.groundtruth import FrameTruth
from mtl_perception.training.metrics import (
    VEHICLE_MEMBERS,
    ConfusionMatrix,
    DetectionRecords,
    detection_metrics,
    drivable_metrics,
    lane_metrics,
)


def class_index(names: Sequence[str]) -> dict[str, int]:
    """Category name -> model class id; car/truck/bus/train map to ``vehicle`` if it exists."""
    index = {n: i for i, n in enumerate(names)}
    if "vehicle" in index:
        for member in VEHICLE_MEMBERS:
            index.setdefault(member, index["vehicle"])
    return index


class Evaluator:
    """Accumulates detection records and mask confusion matrices over frames."""

    def __init__(self, class_names: Sequence[str], drivable_classes: int = 3) -> None:
        self.class_names = list(class_names)
        self.index = class_index(self.class_names)
        self.records = DetectionRecords(self.class_names)
        self.drivable = ConfusionMatrix(drivable_classes)
        self.lane = ConfusionMatrix(2)
        self.frames = {"detection": 0, "drivable": 0, "lane": 0}

    def _ids(self, boxes: Sequence[BoxLabel]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = [b for b in boxes if b.label in self.index]
        xyxy = np.array([[b.x1, b.y1, b.x2, b.y2] for b in keep], np.float64).reshape(-1, 4)
        ids = np.array([self.index[b.label] for b in keep], np.int64)
        scores = np.array([b.score for b in keep], np.float64)
        return xyxy, ids, scores

    def add(
        self,
        truth: FrameTruth,
        detections: Sequence[BoxLabel],
        drivable: np.ndarray | None,
        lane: np.ndarray | None,
    ) -> None:
        """One frame: predicted boxes (label = class name) and class-id masks at truth size."""
        gt_boxes, gt_ids, _ = self._ids(truth.boxes)
        det_boxes, det_ids, det_scores = self._ids(detections)
        self.records.add(gt_boxes, gt_ids, det_boxes, det_scores, det_ids)
        self.frames["detection"] += 1
        if truth.drivable is not None and drivable is not None:
            gt = truth.drivable
            if self.drivable.num_classes == 2:
                gt = np.where(gt == 255, gt, np.minimum(gt, 1))  # direct + alternative
            self.drivable.update(_fit(drivable, gt.shape), gt)
            self.frames["drivable"] += 1
        if truth.lane is not None and lane is not None:
            self.lane.update(_fit(lane, truth.lane.shape), truth.lane)
            self.frames["lane"] += 1

    def result(self, protocol: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"n_frames": dict(self.frames), "protocol": protocol or {}}
        out["detection"] = detection_metrics(self.records) if self.frames["detection"] else None
        out["drivable"] = drivable_metrics(self.drivable) if self.frames["drivable"] else None
        out["lane"] = lane_metrics(self.lane) if self.frames["lane"] else None
        return out


def _fit(mask: np.ndarray, shape_hw: tuple[int, ...]) -> np.ndarray:
    if mask.shape != shape_hw:
        raise ValueError(f"predicted mask {mask.shape} does not match the label {shape_hw}")
    return mask


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The three numbers the demo is judged by (and mtl-offline prints first)."""
    det = metrics.get("detection") or {}
    block = det.get("vehicle") or det.get("classes") or {}
    return {
        "vehicle_ap50": block.get("map50"),
        "map50_all_classes": (det.get("classes") or {}).get("map50"),
        "drivable_miou": (metrics.get("drivable") or {}).get("miou_binary_yolop"),
        "lane_iou": (metrics.get("lane") or {}).get("iou"),
    }


def format_headline(metrics: dict[str, Any]) -> str:
    h = headline(metrics)

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (f"vehicle AP50 {f(h['vehicle_ap50'])}, mAP50 (all classes) "
            f"{f(h['map50_all_classes'])}, drivable mIoU (YOLOP binary) "
            f"{f(h['drivable_miou'])}, lane IoU {f(h['lane_iou'])}")
