"""Drivable-area metrics under named protocols, from a [3 gt x K pred] confusion matrix.

Why each protocol groups the matrix differently:

* ``yolop`` (YOLOP, HybridNets): 2-class mIoU (background, drivable) where drivable means
  BDD's *direct* area only, whatever the model predicts: a 3-class model's alternative
  column and a 2-class model's ground-truth alternative both count as background;
* ``merged`` (named variant, not a paper's protocol): the same 2-class mIoU with direct and
  alternative merged into drivable on both sides;
* ``bdd100k`` (the official toolkit's ``evaluate_drivable``): background is its ignored
  class, so pixels whose ground truth is background leave the matrix; IoU of direct and of
  alternative (0 where undefined), mean over the classes present in the ground truth. A
  2-class model cannot be scored by it.

Ground truth uses our ids (0 background, 1 direct, 2 alternative, 255 unlabelled); a 2-class
model predicts 0 background / 1 drivable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtl_perception.evaluation.pixels import ConfusionMatrix, binary_iou, collapse, opt

GT_CLASSES = 3  # background, direct, alternative


def drivable_confusion(model_classes: int) -> ConfusionMatrix:
    """The matrix every drivable protocol reads: BDD's 3 gt classes x the model's classes."""
    if model_classes not in (2, 3):
        raise ValueError("drivable metrics need a 2- or 3-class model")
    return ConfusionMatrix(GT_CLASSES, model_classes)


def _two_class(m: np.ndarray, gt_groups: list[list[int]], pred_groups: list[list[int]]
               ) -> dict[str, float | None]:
    bg, fg = binary_iou(collapse(m, gt_groups, pred_groups))
    defined = [v for v in (bg, fg) if not np.isnan(v)]
    return {"miou": float(np.mean(defined)) if defined else None,
            "iou_background": opt(bg), "iou_drivable": opt(fg)}


def yolop_drivable(conf: ConfusionMatrix) -> dict[str, float | None]:
    """yolop protocol: background vs direct-only drivable (alternative is background)."""
    pred = [[0, 2], [1]] if conf.pred_classes == 3 else [[0], [1]]
    return _two_class(conf.matrix, [[0, 2], [1]], pred)


def merged_drivable(conf: ConfusionMatrix) -> dict[str, float | None]:
    """Named variant: background vs direct + alternative merged."""
    pred = [[0], [1, 2]] if conf.pred_classes == 3 else [[0], [1]]
    return _two_class(conf.matrix, [[0], [1, 2]], pred)


def bdd100k_drivable(conf: ConfusionMatrix) -> dict[str, Any] | None:
    """bdd100k protocol: gt-background pixels ignored; mean over drivable classes in gt."""
    if conf.pred_classes != 3:
        return None
    m = conf.matrix.astype(np.float64)
    m[0, :] = 0  # ground-truth background leaves the matrix
    ious = {}
    for c, name in ((1, "direct"), (2, "alternative")):
        denom = m[c, :].sum() + m[:, c].sum() - m[c, c]
        ious[name] = float(m[c, c] / denom) if denom > 0 else 0.0
    present = [name for c, name in ((1, "direct"), (2, "alternative")) if m[c, :].sum() > 0]
    return {"miou": float(np.mean([ious[n] for n in present])) if present else None,
            "iou_direct": ious["direct"], "iou_alternative": ious["alternative"],
            "classes_in_gt": present}


def drivable_metrics(conf: ConfusionMatrix) -> dict[str, Any]:
    """Every drivable protocol, keyed by protocol name."""
    return {"yolop": yolop_drivable(conf), "merged": merged_drivable(conf),
            "bdd100k": bdd100k_drivable(conf), "model_classes": conf.pred_classes}
