"""The pixel confusion matrix the drivable and lane protocols are computed from.

Why rectangular: the ground truth always keeps BDD's three drivable classes (background,
direct, alternative) while a model may predict two, and each protocol groups rows and columns
its own way (``drivable.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ConfusionMatrix:
    """Pixel counts, rows = ground-truth class, columns = predicted class."""

    def __init__(self, num_classes: int, pred_classes: int | None = None) -> None:
        self.num_classes = num_classes
        self.pred_classes = num_classes if pred_classes is None else pred_classes
        self.matrix = np.zeros((num_classes, self.pred_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one frame; ground truth outside [0, num_classes) (255 = unlabelled) is skipped."""
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        gt = np.asarray(gt).reshape(-1).astype(np.int64)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction and ground truth differ in size: {pred.shape} {gt.shape}")
        valid = (gt >= 0) & (gt < self.num_classes)
        k = self.pred_classes
        idx = gt[valid] * k + np.clip(pred[valid], 0, k - 1)
        self.matrix += np.bincount(idx, minlength=self.num_classes * k).reshape(-1, k)

    def iou(self) -> np.ndarray:
        """Per-class IoU of a square matrix; NaN where a class is in neither pred nor truth."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        denom = m.sum(0) + m.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / denom, np.nan)


def collapse(m: np.ndarray, rows: Sequence[Sequence[int]], cols: Sequence[Sequence[int]]
             ) -> np.ndarray:
    """Merge the rows and the columns of a confusion matrix into groups."""
    out = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for i, gi in enumerate(rows):
        for j, gj in enumerate(cols):
            out[i, j] = m[np.ix_(list(gi), list(gj))].sum()
    return out


def binary_iou(m: np.ndarray) -> tuple[float, float]:
    """IoU of class 0 and of class 1 of a 2x2 matrix (NaN where undefined)."""
    tn, fp, fn, tp = (float(v) for v in m.reshape(-1))
    bg = tn / (tn + fp + fn) if tn + fp + fn > 0 else float("nan")
    fg = tp / (tp + fp + fn) if tp + fp + fn > 0 else float("nan")
    return bg, fg


def opt(x: float | None) -> float | None:
    """NaN -> None, so JSON reports say 'not defined' instead of NaN."""
    return None if x is None or np.isnan(x) else float(x)
