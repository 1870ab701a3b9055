"""Lane-marking metrics under named protocols, on the binary lane class.

Why several: the papers call different numbers "accuracy".

* ``yolop`` (YOLOP, TwinLiteNet): lane IoU and pixel recall TP / (TP + FN), the latter
  reported as "accuracy (YOLOP)";
* ``hybridnets`` (HybridNets, A-YOLOM): balanced accuracy (TPR + TNR) / 2, "accuracy
  (HybridNets)";
* ``bdd100k`` (the official toolkit's lane evaluation): boundary F-measure per frame with
  tolerances of 1, 2 and 5 px (both masks dilated by a disk), averaged over frames; here on
  the binary foreground, the toolkit's per-category masks being out of a binary model's reach.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mtl_perception.common.constants import IGNORE_INDEX
from mtl_perception.evaluation.pixels import ConfusionMatrix

BOUND_PIXELS = (1, 2, 5)


def disk(radius: int) -> np.ndarray:
    """skimage.morphology.disk: the pixels with x^2 + y^2 <= r^2."""
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def boundary_f(gt: np.ndarray, pred: np.ndarray, bound_pix: int) -> float:
    """bdd100k's per-frame F at one tolerance (its conventions for empty masks included)."""
    gt = np.asarray(gt, bool)
    pred = np.asarray(pred, bool)
    n_gt, n_pd = int(gt.sum()), int(pred.sum())
    if n_pd == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    elif n_pd == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        k = disk(bound_pix)
        gt_dil = cv2.dilate(gt.astype(np.uint8), k).astype(bool)
        pd_dil = cv2.dilate(pred.astype(np.uint8), k).astype(bool)
        precision = float((pred & gt_dil).sum()) / n_pd
        recall = float((gt & pd_dil).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


class LaneScores:
    """Accumulates the lane confusion matrix and the per-frame boundary F values."""

    def __init__(self) -> None:
        self.conf = ConfusionMatrix(2)
        self.f_frames: dict[int, list[float]] = {b: [] for b in BOUND_PIXELS}

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """One frame, 0/1 masks (gt 255 = unlabelled: left out of both)."""
        self.conf.update(pred, gt)
        labelled = gt != IGNORE_INDEX
        if not labelled.any():
            return
        fg_gt, fg_pd = (gt == 1) & labelled, (pred == 1) & labelled
        for b in BOUND_PIXELS:
            self.f_frames[b].append(boundary_f(fg_gt, fg_pd, b))

    def result(self) -> dict[str, Any]:
        return lane_metrics(self.conf, self.f_frames)


def lane_metrics(conf: ConfusionMatrix, f_frames: dict[int, list[float]] | None = None
                 ) -> dict[str, Any]:
    """Every lane protocol, keyed by protocol name."""
    tn, fp, fn, tp = (float(v) for v in conf.matrix.reshape(-1))
    tpr = tp / (tp + fn) if tp + fn > 0 else None
    tnr = tn / (tn + fp) if tn + fp > 0 else None
    out: dict[str, Any] = {
        "yolop": {"iou": tp / (tp + fp + fn) if tp + fp + fn > 0 else None,
                  "pixel_recall": tpr},
        "hybridnets": {"balanced_accuracy": (tpr + tnr) / 2
                       if tpr is not None and tnr is not None else None},
        "precision": tp / (tp + fp) if tp + fp > 0 else None,
    }
    if f_frames is not None:
        out["bdd100k"] = {f"f_{b}px": float(np.mean(v)) if v else None
                          for b, v in f_frames.items()}
        out["bdd100k"]["n_frames"] = len(next(iter(f_frames.values())))
    return out
