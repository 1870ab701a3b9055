"""Detection metrics under two named protocols, scored by pycocotools.

Why two: the published BDD100K detection numbers do not measure the same thing.

* ``yolop`` (YOLOP, HybridNets, A-YOLOM): the model's classes and the merged ``vehicle`` class
  (car, truck, bus, train), detections at confidence 0.001 after NMS at IoU 0.6, AP50 and
  recall@0.5 (COCO 101-point interpolation, up to 300 detections per image); crowd boxes
  count as ordinary ground truth, boxes are x2 - x1 wide. ``errors`` sorts the confident
  detections (score >= 0.3) into true positives, duplicates, poorly localized and background.
* ``bdd100k`` (the official toolkit, i.e. scalabel's ``evaluate_det``): BDD's 10 classes by
  name, AP@[.5:.95], AP50, AP75 at 100 detections per image; ``crowd`` (or ``ignored``)
  labels are ignore regions (COCO ``iscrowd``), and boxes are ``x2 - x1 + 1`` wide and
  ``y2 - y1 + 1`` high, as scalabel converts them.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtl_perception.common.classes import BDD_CLASSES, VEHICLE, VEHICLE_MEMBERS
from mtl_perception.inference.postprocess import iou_one_to_many

# The peers' evaluation thresholds (yolop protocol): what mtl-eval, mtl-quantize and the
# demo's "protocol" scoring run NMS at.
YOLOP_CONF = 0.001
YOLOP_NMS_IOU = 0.6
YOLOP_MAX_DETECTIONS = 300
BDD100K_MAX_DETECTIONS = 100  # COCOeval's default, which scalabel keeps
ERROR_KINDS = ("true_positive", "duplicate", "poor_localization", "background")


@dataclass
class DetectionRecords:
    """Per-image ground truth (with crowd flags) and detections: xyxy pixels, class ids."""

    class_names: list[str]
    gt_boxes: list[np.ndarray] = field(default_factory=list)
    gt_classes: list[np.ndarray] = field(default_factory=list)
    gt_crowd: list[np.ndarray] = field(default_factory=list)
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
        gt_crowd: np.ndarray | None = None,
    ) -> None:
        gb = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        self.gt_boxes.append(gb)
        self.gt_classes.append(np.asarray(gt_classes, np.int64).reshape(-1))
        crowd = np.zeros(len(gb), bool) if gt_crowd is None else np.asarray(gt_crowd, bool)
        self.gt_crowd.append(crowd.reshape(-1))
        self.det_boxes.append(np.asarray(det_boxes, np.float64).reshape(-1, 4))
        self.det_scores.append(np.asarray(det_scores, np.float64).reshape(-1))
        self.det_classes.append(np.asarray(det_classes, np.int64).reshape(-1))

    def frames(self) -> Any:
        return zip(self.gt_boxes, self.gt_classes, self.gt_crowd, self.det_boxes,
                   self.det_scores, self.det_classes, strict=True)

    def merged_vehicle(self) -> DetectionRecords | None:
        """Same records with car/truck/bus/train (or an existing 'vehicle') as one class."""
        members = [i for i, n in enumerate(self.class_names) if n in (*VEHICLE_MEMBERS, VEHICLE)]
        if not members:
            return None
        lut = np.full(len(self.class_names), -1, dtype=np.int64)
        lut[members] = 0
        out = DetectionRecords(["vehicle"])
        for gb, gc, gcr, db, ds, dc in self.frames():
            gk, dk = lut[gc] == 0, lut[dc] == 0
            out.add(gb[gk], np.zeros(gk.sum()), db[dk], ds[dk], np.zeros(dk.sum()), gcr[gk])
        return out


def _coco_dicts(rec: DetectionRecords, plus_one: bool, crowd_ignored: bool
                ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """COCO gt dataset and result list; ``plus_one``: scalabel's x2 - x1 + 1 width."""
    one = 1.0 if plus_one else 0.0

    def bbox(b: np.ndarray) -> list[float]:
        return [float(b[0]), float(b[1]), float(b[2] - b[0] + one), float(b[3] - b[1] + one)]

    images, anns, dets = [], [], []
    for i, (gb, gc, gcr, db, ds, dc) in enumerate(rec.frames()):
        images.append({"id": i + 1})
        for b, c, crowd in zip(gb, gc, gcr, strict=True):
            box = bbox(b)
            anns.append({
                "id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                "bbox": box, "area": box[2] * box[3],
                "iscrowd": int(bool(crowd) and crowd_ignored),
            })
        for b, s, c in zip(db, ds, dc, strict=True):
            dets.append({"image_id": i + 1, "category_id": int(c) + 1, "score": float(s),
                         "bbox": bbox(b)})
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(rec.class_names)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def _cocoeval(rec: DetectionRecords, max_dets: int, plus_one: bool, crowd_ignored: bool
              ) -> Any | None:
    """An accumulated pycocotools COCOeval, or None when there is nothing to score."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dets = _coco_dicts(rec, plus_one, crowd_ignored)
    if not gt["annotations"] or not dets:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
    return ev


def _mean_valid(a: np.ndarray) -> float | None:
    v = a[a > -1]
    return float(v.mean()) if v.size else None


def _zero_per_class(rec: DetectionRecords, crowd_ignored: bool) -> dict[str, float | None]:
    """Per-class AP when nothing was detected: 0 for classes with ground truth, else None."""
    seen: set[int] = set()
    for gc, crowd in zip(rec.gt_classes, rec.gt_crowd, strict=True):
        seen.update(gc[~crowd].tolist() if crowd_ignored else gc.tolist())
    return {n: (0.0 if c in seen else None) for c, n in enumerate(rec.class_names)}


def _counts(rec: DetectionRecords) -> dict[str, int]:
    return {"n_gt": int(sum(len(g) for g in rec.gt_classes)),
            "n_crowd": int(sum(int(c.sum()) for c in rec.gt_crowd)),
            "n_det": int(sum(len(d) for d in rec.det_scores))}


def yolop_block(rec: DetectionRecords, max_dets: int = YOLOP_MAX_DETECTIONS) -> dict[str, Any]:
    """yolop protocol on one class set: mAP50, mAP50:95, recall@0.5, per-class AP50, PR."""
    has_gt = any(len(g) for g in rec.gt_classes)
    zero = 0.0 if has_gt else None
    out: dict[str, Any] = {
        "map50": zero, "map50_95": zero, "recall50": zero,
        "ap50_per_class": _zero_per_class(rec, False), "pr_curve": None, **_counts(rec),
    }
    ev = _cocoeval(rec, max_dets, plus_one=False, crowd_ignored=False)
    if ev is None:
        return out
    prec = ev.eval["precision"][:, :, :, 0, -1]  # [T, R, K]
    recall = ev.eval["recall"][:, :, 0, -1]  # [T, K]
    valid_pr = prec[0][:, (prec[0] > -1).all(axis=0)]
    out.update(
        map50=_mean_valid(prec[0]), map50_95=_mean_valid(prec), recall50=_mean_valid(recall[0]),
        ap50_per_class={n: _mean_valid(prec[0, :, c]) for c, n in enumerate(rec.class_names)},
        pr_curve={"recall": ev.params.recThrs.tolist(),
                  "precision": valid_pr.mean(axis=1).tolist() if valid_pr.size else None},
    )
    return out


def bdd100k_detection(rec: DetectionRecords) -> dict[str, Any]:
    """bdd100k protocol: AP, AP50, AP75 (in [0, 1]) and per-class AP, crowd boxes ignored.

    ``rec`` must use :data:`BDD_CLASSES` as its class names (``Evaluator`` builds it so).
    """
    if list(rec.class_names) != list(BDD_CLASSES):
        raise ValueError("the bdd100k protocol scores BDD's 10 classes by name")
    has_gt = any(len(g) > int(c.sum()) for g, c in zip(rec.gt_classes, rec.gt_crowd,
                                                        strict=True))
    zero = 0.0 if has_gt else None
    out: dict[str, Any] = {"AP": zero, "AP50": zero, "AP75": zero,
                           "ap_per_class": _zero_per_class(rec, True), **_counts(rec)}
    ev = _cocoeval(rec, BDD100K_MAX_DETECTIONS, plus_one=True, crowd_ignored=True)
    if ev is None:
        return out
    prec = ev.eval["precision"][:, :, :, 0, -1]
    iou_thrs = list(np.round(ev.params.iouThrs, 2))
    out.update(AP=_mean_valid(prec), AP50=_mean_valid(prec[iou_thrs.index(0.5)]),
               AP75=_mean_valid(prec[iou_thrs.index(0.75)]),
               ap_per_class={n: _mean_valid(prec[:, :, c]) for c, n in enumerate(rec.class_names)})
    return out


def error_breakdown(rec: DetectionRecords, conf: float = 0.3) -> dict[str, Any]:
    """Sort detections with score >= ``conf`` by what they hit, greedily in score order.

    A detection is a true positive when it is the first to reach IoU >= 0.5 with a ground-truth
    box of its class, a duplicate when that box was already taken, poorly localized at
    0.1 <= IoU < 0.5, and background below. ``missed`` counts ground truth no detection took.
    """
    counts = dict.fromkeys(ERROR_KINDS, 0)
    missed = 0
    for gb, gc, _crowd, db, ds, dc in rec.frames():
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


def yolop_detection(rec: DetectionRecords, max_dets: int = YOLOP_MAX_DETECTIONS
                    ) -> dict[str, Any]:
    """yolop protocol for the model's classes and, where it has vehicle members, ``vehicle``."""
    out: dict[str, Any] = {"classes": yolop_block(rec, max_dets)}
    out["classes"]["errors"] = error_breakdown(rec)
    merged = rec.merged_vehicle()
    out["vehicle"] = None
    if merged is not None:
        out["vehicle"] = yolop_block(merged, max_dets)
        out["vehicle"]["errors"] = error_breakdown(merged)
    return out


def to_bdd_names(rec: DetectionRecords) -> DetectionRecords:
    """The same records with class ids into :data:`BDD_CLASSES` (unknown names dropped)."""
    lut = np.array([BDD_CLASSES.index(n) if n in BDD_CLASSES else -1
                    for n in rec.class_names] or [-1], np.int64)
    out = DetectionRecords(list(BDD_CLASSES))
    for gb, gc, gcr, db, ds, dc in rec.frames():
        g, d = lut[gc], lut[dc]
        out.add(gb[g >= 0], g[g >= 0], db[d >= 0], ds[d >= 0], d[d >= 0], gcr[g >= 0])
    return out

