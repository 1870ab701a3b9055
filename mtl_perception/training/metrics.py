"""Evaluation metrics, numpy + pycocotools only (no torch: the offline runner, the quantizer
and the demo import this module too).

Every metric is named after the protocol it follows, because the published BDD100K numbers
do not all measure the same thing (docs/training.md lists the protocols):

* detection: COCO-style mAP@0.5 and mAP@0.5:0.95 (pycocotools, 101-point interpolation),
  recall@0.5 (max recall with up to ``max_dets`` detections per image), per recipe class and
  for the merged ``vehicle`` class (car, truck, bus, train); ``errors`` sorts the confident
  detections (score >= 0.3) into true positives, duplicates, poorly localized boxes and
  background, to say *why* precision is low;
* drivable: ``miou_binary_yolop`` = mean of background IoU and drivable IoU with BDD's
  "alternative" counted as background (a 2-class model's "drivable" is direct+alternative),
  and ``miou_official_3class`` = mean IoU of direct and alternative, background ignored;
* lane: ``iou`` (lane class only), ``pixel_recall_yolop`` = TP/(TP+FN) (YOLOP/TwinLiteNet
  "accuracy"), ``balanced_accuracy`` = (TPR+TNR)/2 (HybridNets/A-YOLOM "accuracy").
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtl_perception.inference.postprocess import iou_one_to_many

VEHICLE_MEMBERS = ("car", "truck", "bus", "train")
IGNORE_INDEX = 255


class ConfusionMatrix:
    """Pixel confusion matrix, rows = ground truth, columns = prediction."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        gt = np.asarray(gt).reshape(-1).astype(np.int64)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction and ground truth differ in size: {pred.shape} {gt.shape}")
        valid = (gt != IGNORE_INDEX) & (gt >= 0) & (gt < self.num_classes)
        k = self.num_classes
        idx = gt[valid] * k + np.clip(pred[valid], 0, k - 1)
        self.matrix += np.bincount(idx, minlength=k * k).reshape(k, k)

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN where the class appears in neither prediction nor truth."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        denom = m.sum(0) + m.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / denom, np.nan)


def _binary_iou(m: np.ndarray) -> tuple[float, float]:
    """IoU of class 0 and class 1 of a 2x2 confusion matrix."""
    tn, fp, fn, tp = (float(v) for v in m.reshape(-1))
    bg = tn / (tn + fp + fn) if tn + fp + fn > 0 else float("nan")
    fg = tp / (tp + fp + fn) if tp + fp + fn > 0 else float("nan")
    return bg, fg


def _collapse(m: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Merge the classes of a confusion matrix into ``groups`` (both axes)."""
    out = np.zeros((len(groups), len(groups)), dtype=np.int64)
    for i, gi in enumerate(groups):
        for j, gj in enumerate(groups):
            out[i, j] = m[np.ix_(list(gi), list(gj))].sum()
    return out


def drivable_metrics(conf: ConfusionMatrix) -> dict[str, float | None]:
    """Both drivable protocols from a 3-class (bg/direct/alt) or 2-class (bg/drivable) matrix."""
    m = conf.matrix
    if conf.num_classes == 3:
        binary = _collapse(m, [[0, 2], [1]])  # alternative counts as background
        iou3 = conf.iou()
        official = float(np.nanmean(iou3[1:])) if not np.all(np.isnan(iou3[1:])) else None
        per_class = {"direct": _f(iou3[1]), "alternative": _f(iou3[2])}
    elif conf.num_classes == 2:
        binary = m
        official = None  # a 2-class model cannot tell direct from alternative
        per_class = {}
    else:
        raise ValueError("drivable metrics need 2 or 3 classes")
    bg, fg = _binary_iou(binary)
    return {
        "miou_binary_yolop": _f(np.nanmean([bg, fg])),
        "iou_drivable_binary": _f(fg),
        "miou_official_3class": official,
        **{f"iou_{k}": v for k, v in per_class.items()},
    }


def lane_metrics(conf: ConfusionMatrix) -> dict[str, float | None]:
    """Lane IoU, YOLOP pixel recall and balanced accuracy from a 2x2 matrix."""
    tn, fp, fn, tp = (float(v) for v in conf.matrix.reshape(-1))
    tpr = tp / (tp + fn) if tp + fn > 0 else None
    tnr = tn / (tn + fp) if tn + fp > 0 else None
    return {
        "iou": tp / (tp + fp + fn) if tp + fp + fn > 0 else None,
        "pixel_recall_yolop": tpr,
        "balanced_accuracy": (tpr + tnr) / 2 if tpr is not None and tnr is not None else None,
        "precision": tp / (tp + fp) if tp + fp > 0 else None,
    }


def _f(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


@dataclass
class DetectionRecords:
    """Per-image ground truth and detections (xyxy pixels, class ids into ``class_names``)."""

    class_names: list[str]
    gt_boxes: list[np.ndarray] = field(default_factory=list)
    gt_classes: list[np.ndarray] = field(default_factory=list)
    det_boxes: list[np.ndarray] = field(default_factory=list)
    det_scores: list[np.ndarray] = field(default_factory=list)
    det_classes: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        gt_boxes: np.ndarray,
        gt_classes: np.ndarray,
        det_boxes: np.ndarray,
        det_scores: np.ndarray,
        det_classes: np.ndarray,
    ) -> None:
        self.gt_boxes.append(np.asarray(gt_boxes, np.float64).reshape(-1, 4))
        self.gt_classes.append(np.asarray(gt_classes, np.int64).reshape(-1))
        self.det_boxes.append(np.asarray(det_boxes, np.float64).reshape(-1, 4))
        self.det_scores.append(np.asarray(det_scores, np.float64).reshape(-1))
        self.det_classes.append(np.asarray(det_classes, np.int64).reshape(-1))

    def merged_vehicle(self) -> DetectionRecords | None:
        """Same records with car/truck/bus/train (or an existing 'vehicle') as one class."""
        members = [i for i, n in enumerate(self.class_names) if n in (*VEHICLE_MEMBERS, "vehicle")]
        if not members:
            return None
        lut = np.full(len(self.class_names), -1, dtype=np.int64)
        lut[members] = 0
        out = DetectionRecords(["vehicle"])
        for gb, gc, db, ds, dc in zip(
            self.gt_boxes, self.gt_classes, self.det_boxes, self.det_scores, self.det_classes,
            strict=True,
        ):
            gk, dk = lut[gc] == 0, lut[dc] == 0
            out.add(gb[gk], np.zeros(gk.sum()), db[dk], ds[dk], np.zeros(dk.sum()))
        return out


def _coco_dicts(rec: DetectionRecords) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    images, anns, dets = [], [], []
    for i, (gb, gc, db, ds, dc) in enumerate(
        zip(rec.gt_boxes, rec.gt_classes, rec.det_boxes, rec.det_scores, rec.det_classes,
            strict=True)
    ):
        images.append({"id": i + 1})
        for b, c in zip(gb, gc, strict=True):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({
                "id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": 0,
            })
        for b, s, c in zip(db, ds, dc, strict=True):
            dets.append({
                "image_id": i + 1, "category_id": int(c) + 1, "score": float(s),
                "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
            })
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(rec.class_names)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def coco_detection_metrics(rec: DetectionRecords, max_dets: int = 300) -> dict[str, Any]:
    """mAP@0.5, mAP@0.5:0.95, recall@0.5, per-class AP50 and the PR curve at IoU 0.5."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    k = len(rec.class_names)
    empty: dict[str, Any] = {
        "map50": 0.0, "map50_95": 0.0, "recall50": 0.0,
        "ap50_per_class": dict.fromkeys(rec.class_names), "pr_curve": None,
        "n_gt": int(sum(len(g) for g in rec.gt_classes)),
        "n_det": int(sum(len(d) for d in rec.det_scores)),
    }
    gt, dets = _coco_dicts(rec)
    if not gt["annotations"]:
        empty.update(map50=None, map50_95=None, recall50=None)
        return empty
    if not dets:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes(dets)
        ev = COCOeval(coco, res, "bbox")
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][:, :, :, 0, -1]  # [T, R, K]
    recall = ev.eval["recall"][:, :, 0, -1]  # [T, K]

    def mean_valid(a: np.ndarray) -> float | None:
        v = a[a > -1]
        return float(v.mean()) if v.size else None

    per_class = {rec.class_names[c]: mean_valid(prec[0, :, c]) for c in range(k)}
    valid_pr = prec[0][:, (prec[0] > -1).all(axis=0)]
    return {
        "map50": mean_valid(prec[0]),
        "map50_95": mean_valid(prec),
        "recall50": mean_valid(recall[0]),
        "ap50_per_class": per_class,
        "pr_curve": {
            "recall": ev.params.recThrs.tolist(),
            "precision": valid_pr.mean(axis=1).tolist() if valid_pr.size else None,
        },
        "n_gt": empty["n_gt"],
        "n_det": empty["n_det"],
    }


ERROR_KINDS = ("true_positive", "duplicate", "poor_localization", "background")


def error_breakdown(rec: DetectionRecords, conf: float = 0.3) -> dict[str, Any]:
    """Sort detections with score >= ``conf`` by what they hit, greedily in score order.

    A detection is a true positive when it is the first to reach IoU >= 0.5 with a ground-truth
    box of its class, a duplicate when that box was already taken, poorly localized at
    0.1 <= IoU < 0.5, and background below. ``missed`` counts ground truth no detection took.
    """
    counts = dict.fromkeys(ERROR_KINDS, 0)
    missed = 0
    for gb, gc, db, ds, dc in zip(
        rec.gt_boxes, rec.gt_classes, rec.det_boxes, rec.det_scores, rec.det_classes,
        strict=True,
    ):
        keep = ds >= conf
        db, ds, dc = db[keep], ds[keep], dc[keep]
        taken = np.zeros(len(gb), bool)
        for k in np.argsort(-ds, kind="stable"):
            iou = np.where(gc == dc[k], iou_one_to_many(db[k], gb), 0.0)
            j = int(iou.argmax()) if len(gb) else -1
            best = float(iou[j]) if j >= 0 else 0.0
            if best >= 0.5 and not taken[j]:
                taken[j] = True
                counts["true_positive"] += 1
            elif best >= 0.5:
                counts["duplicate"] += 1
            elif best >= 0.1:
                counts["poor_localization"] += 1
            else:
                counts["background"] += 1
        missed += int((~taken).sum())
    return {"conf_threshold": conf, **counts, "missed": missed}


def detection_metrics(rec: DetectionRecords, max_dets: int = 300) -> dict[str, Any]:
    """Metrics for the recipe's classes and, where it has vehicle members, merged vehicle."""
    out = {"classes": coco_detection_metrics(rec, max_dets)}
    out["classes"]["errors"] = error_breakdown(rec)
    merged = rec.merged_vehicle()
    out["vehicle"] = coco_detection_metrics(merged, max_dets) if merged is not None else None
    if out["vehicle"] is not None and merged is not None:
        out["vehicle"]["errors"] = error_breakdown(merged)
    return out
