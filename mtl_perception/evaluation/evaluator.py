"""The one aggregator: frames in, every protocol's numbers out, in one report.

Why here: ``mtl-eval`` (checkpoints and saved predictions), ``mtl-offline``, ``mtl-quantize``
and the demo all feed frames to :class:`Evaluator`, so their reports have one layout and one
meaning. Boxes are in the pixels the labels use; masks use our class ids (drivable 0
background / 1 direct / 2 alternative, lane 0/1, 255 unlabelled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mtl_perception.common.classes import BDD_CLASSES, class_index
from mtl_perception.evaluation.detection import (
    DetectionRecords,
    bdd100k_detection,
    to_bdd_names,
    yolop_detection,
)
from mtl_perception.evaluation.drivable import drivable_confusion, drivable_metrics
from mtl_perception.evaluation.lane import LaneScores


class Box(Protocol):
    """What a box needs (``BoxLabel`` is one): xyxy pixels, a class name, a score."""

    @property
    def x1(self) -> float: ...

    @property
    def y1(self) -> float: ...

    @property
    def x2(self) -> float: ...

    @property
    def y2(self) -> float: ...

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...


@dataclass
class FrameTruth:
    """One frame's labels; ``crowd[i]`` marks box i as a crowd (ignore) region."""

    boxes: Sequence[Box]
    drivable: np.ndarray | None  # uint8 [H, W], 0/1/2/255, or None when not labelled
    lane: np.ndarray | None  # uint8 [H, W], 0/1/255, or None when not labelled
    crowd: Sequence[bool] = field(default_factory=list)


def _arrays(boxes: Sequence[Box], index: dict[str, int], crowd: Sequence[bool] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    flags = list(crowd) if crowd else [False] * len(boxes)
    keep = [i for i, b in enumerate(boxes) if b.label in index]
    xyxy = np.array([[boxes[i].x1, boxes[i].y1, boxes[i].x2, boxes[i].y2] for i in keep],
                    np.float64).reshape(-1, 4)
    ids = np.array([index[boxes[i].label] for i in keep], np.int64)
    scores = np.array([boxes[i].score for i in keep], np.float64)
    return xyxy, ids, scores, np.array([flags[i] for i in keep], bool)


class Evaluator:
    """Accumulates detections and masks over frames; :meth:`result` is the full report."""

    def __init__(self, class_names: Sequence[str], drivable_classes: int = 3) -> None:
        self.class_names = list(class_names)
        self.index = class_index(self.class_names)
        self.records = DetectionRecords(self.class_names)
        self.bdd_index = {n: i for i, n in enumerate(BDD_CLASSES)}
        self.bdd_records = DetectionRecords(list(BDD_CLASSES))
        self.drivable = drivable_confusion(drivable_classes)
        self.lane = LaneScores()
        self.frames = {"detection": 0, "drivable": 0, "lane": 0}

    def add_ids(self, gt_boxes: np.ndarray, gt_classes: np.ndarray, det_boxes: np.ndarray,
                det_scores: np.ndarray, det_classes: np.ndarray,
                gt_crowd: np.ndarray | None = None) -> None:
        """One frame's boxes as arrays of model class ids (mtl-eval's letterboxed batches)."""
        self.records.add(gt_boxes, gt_classes, det_boxes, det_scores, det_classes, gt_crowd)
        one = DetectionRecords(self.class_names)
        one.add(gt_boxes, gt_classes, det_boxes, det_scores, det_classes, gt_crowd)
        named = to_bdd_names(one)
        self.bdd_records.add(named.gt_boxes[0], named.gt_classes[0], named.det_boxes[0],
                             named.det_scores[0], named.det_classes[0], named.gt_crowd[0])
        self.frames["detection"] += 1

    def add_boxes(self, truth: Sequence[Box], crowd: Sequence[bool],
                  detections: Sequence[Box]) -> None:
        """One frame's boxes by class name: model classes for yolop, BDD's 10 for bdd100k."""
        gb, gi, _, gc = _arrays(truth, self.index, crowd)
        db, di, ds, _ = _arrays(detections, self.index)
        self.records.add(gb, gi, db, ds, di, gc)
        gb, gi, _, gc = _arrays(truth, self.bdd_index, crowd)
        db, di, ds, _ = _arrays(detections, self.bdd_index)
        self.bdd_records.add(gb, gi, db, ds, di, gc)
        self.frames["detection"] += 1

    def add_drivable(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Model class ids vs BDD's 3-class truth (our ids)."""
        self.drivable.update(_fit(pred, gt.shape), gt)
        self.frames["drivable"] += 1

    def add_lane(self, pred: np.ndarray, gt: np.ndarray) -> None:
        self.lane.update(_fit(pred, gt.shape), gt)
        self.frames["lane"] += 1

    def add(self, truth: FrameTruth, detections: Sequence[Box] | None,
            drivable: np.ndarray | None, lane: np.ndarray | None) -> None:
        """One frame through the pipeline: boxes by class name, masks at truth size."""
        if detections is not None:
            self.add_boxes(truth.boxes, truth.crowd, detections)
        if truth.drivable is not None and drivable is not None:
            self.add_drivable(drivable, truth.drivable)
        if truth.lane is not None and lane is not None:
            self.add_lane(lane, truth.lane)

    def result(self, protocol: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every protocol of every task that got frames (None for the others)."""
        out: dict[str, Any] = {"n_frames": dict(self.frames), "protocol": protocol or {}}
        out["detection"] = None
        if self.frames["detection"]:
            out["detection"] = {"yolop": yolop_detection(self.records),
                                "bdd100k": bdd100k_detection(self.bdd_records)}
        out["drivable"] = drivable_metrics(self.drivable) if self.frames["drivable"] else None
        out["lane"] = self.lane.result() if self.frames["lane"] else None
        return out


def _fit(mask: np.ndarray, shape_hw: tuple[int, ...]) -> np.ndarray:
    if mask.shape != shape_hw:
        raise ValueError(f"predicted mask {mask.shape} does not match the label {shape_hw}")
    return mask


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The numbers a run is judged by: yolop detection, drivable and lane; bdd100k next."""
    det = metrics.get("detection") or {}
    yolop = det.get("yolop") or {}
    block = yolop.get("vehicle") or yolop.get("classes") or {}
    drv = metrics.get("drivable") or {}
    lane = metrics.get("lane") or {}
    return {
        "vehicle_ap50": block.get("map50"),
        "map50_all_classes": (yolop.get("classes") or {}).get("map50"),
        "drivable_miou": (drv.get("yolop") or {}).get("miou"),
        "lane_iou": (lane.get("yolop") or {}).get("iou"),
        "bdd100k_det_ap": (det.get("bdd100k") or {}).get("AP"),
        "bdd100k_drivable_miou": (drv.get("bdd100k") or {}).get("miou"),
        "bdd100k_lane_f_2px": (lane.get("bdd100k") or {}).get("f_2px"),
    }


def format_headline(metrics: dict[str, Any]) -> str:
    h = headline(metrics)

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (f"vehicle AP50 {f(h['vehicle_ap50'])}, mAP50 (all classes) "
            f"{f(h['map50_all_classes'])}, drivable mIoU (YOLOP) {f(h['drivable_miou'])}, "
            f"lane IoU {f(h['lane_iou'])}; bdd100k: det AP {f(h['bdd100k_det_ap'])}, "
            f"drivable mIoU {f(h['bdd100k_drivable_miou'])}, lane F@2px "
            f"{f(h['bdd100k_lane_f_2px'])}")
