"""Multi-task loss L = alpha * L_det + beta * L_seg.

L_det = box (1 - CIoU/GIoU) + objectness BCE (target = IoU of the prediction) + class BCE.
L_seg = drivable CE + lane CE + a Tversky (or Dice) term on the thin lane class.
Optional class-balanced weights use the effective number of samples (Cui et al. 2019).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mtl_perception.common.constants import IGNORE_INDEX
from mtl_perception.training.loss.targets import build_targets
from mtl_perception.training.model.heads import NUM_ANCHORS


def effective_number_weights(counts: np.ndarray | list[int], beta: float) -> np.ndarray:
    """Class weights (1 - beta) / (1 - beta**n), normalized to mean 1 (absent classes -> 0)."""
    n = np.asarray(counts, dtype=np.float64)
    w = np.zeros_like(n)
    present = n > 0
    w[present] = (1.0 - beta) / (1.0 - np.power(beta, n[present]))
    if present.any():
        w = w * present.sum() / w[present].sum()
    return w.astype(np.float32)


def bbox_iou_xywh(a: torch.Tensor, b: torch.Tensor, kind: str = "ciou") -> torch.Tensor:
    """IoU family between paired boxes given as (cx, cy, w, h): 'iou', 'giou', 'diou', 'ciou'."""
    eps = 1e-7
    a1, a2 = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b1, b2 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    inter = (torch.minimum(a2, b2) - torch.maximum(a1, b1)).clamp(min=0).prod(dim=1)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter + eps
    iou = inter / union
    if kind == "iou":
        return iou
    enc_wh = torch.maximum(a2, b2) - torch.minimum(a1, b1)
    if kind == "giou":
        enc = enc_wh.prod(dim=1) + eps
        return iou - (enc - union) / enc
    diag = (enc_wh**2).sum(dim=1) + eps
    centre = ((a[:, :2] - b[:, :2]) ** 2).sum(dim=1)
    if kind == "diou":
        return iou - centre / diag
    v = (4 / math.pi**2) * (
        torch.atan(b[:, 2] / (b[:, 3] + eps)) - torch.atan(a[:, 2] / (a[:, 3] + eps))
    ) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + 1 + eps)
    return iou - (centre / diag + alpha * v)


def tversky_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float, cls: int = 1
) -> torch.Tensor:
    """1 - Tversky index of class ``cls``; alpha weighs false positives, beta false negatives.

    alpha = beta = 0.5 is the Dice loss.
    """
    valid = (target != IGNORE_INDEX).float()
    p = logits.float().softmax(dim=1)[:, cls] * valid
    t = (target == cls).float()
    tp = (p * t).sum()
    fp = (p * (1 - t) * valid).sum()
    fn = ((1 - p) * t).sum()
    return 1.0 - (tp + 1.0) / (tp + alpha * fp + beta * fn + 1.0)


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                         weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over the labelled pixels; exactly 0 (and no gradient) when a batch has
    none, where ``F.cross_entropy``'s mean would be 0 / 0 = NaN."""
    if not bool((target != IGNORE_INDEX).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX)


class MultiTaskLoss(nn.Module):
    """Computes every loss term of the recipe; returns (total, {name: detached value})."""

    def __init__(
        self,
        recipe: dict[str, Any],
        anchors: torch.Tensor,
        strides: list[int],
        num_classes: int,
        det_class_weights: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.cfg = recipe["loss"]
        self.tasks = tuple(recipe["tasks"])
        self.strides = strides
        self.num_classes = num_classes
        self.register_buffer("anchors", anchors.detach().clone().float())
        w = torch.ones(num_classes) if det_class_weights is None else torch.as_tensor(
            det_class_weights, dtype=torch.float32
        )
        self.register_buffer("cls_weight", w)

    def detection_loss(
        self,
        det: list[torch.Tensor],
        boxes: list[torch.Tensor],
        classes: list[torch.Tensor],
        has_det: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``has_det`` [B] bool: False for frames without detection labels, whose empty box
        list must not teach "no object here" to the objectness score."""
        cfg = self.cfg
        shapes = [(int(p.shape[-2]), int(p.shape[-1])) for p in det]
        targets = build_targets(
            shapes, self.strides, self.anchors, boxes, classes, float(cfg["anchor_ratio_max"])
        )
        level_w = cfg["obj_level_weights"]
        zero = det[0].sum() * 0.0
        lbox, lobj, lcls = zero.clone(), zero.clone(), zero.clone()
        n_box_levels = 0
        for level, (p, t) in enumerate(zip(det, targets, strict=True)):
            b, _, h, w = p.shape
            p = p.float().view(b, NUM_ANCHORS, 5 + self.num_classes, h, w).permute(0, 1, 3, 4, 2)
            tobj = torch.zeros(p.shape[:4], device=p.device)
            if len(t.image):
                ps = p[t.image, t.anchor, t.gy, t.gx]
                pxy = ps[:, :2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * t.anchor_wh
                iou = bbox_iou_xywh(torch.cat([pxy, pwh], 1), t.box, cfg["box_loss"])
                lbox = lbox + (1.0 - iou).mean()
                n_box_levels += 1
                r = float(cfg["obj_iou_ratio"])
                target_obj = (1.0 - r) + r * iou.detach().clamp(0)
                tobj[t.image, t.anchor, t.gy, t.gx] = target_obj.to(tobj.dtype)
                onehot = F.one_hot(t.cls, self.num_classes).float()
                bce = F.binary_cross_entropy_with_logits(ps[:, 5:], onehot, reduction="none")
                lcls = lcls + (bce * self.cls_weight).mean()
            obj_logits = p[..., 4]
            if has_det is not None and not bool(has_det.all()):
                obj_logits, tobj = obj_logits[has_det], tobj[has_det]
            if obj_logits.numel():
                lobj = lobj + F.binary_cross_entropy_with_logits(obj_logits, tobj) * level_w[level]
        return {
            "box": lbox * float(cfg["box"]),
            "obj": lobj * float(cfg["obj"]),
            "cls": lcls * float(cfg["cls"]),
        }

    def segmentation_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        terms: dict[str, torch.Tensor] = {}
        if "drivable" in out:
            terms["drivable"] = masked_cross_entropy(out["drivable"].float(),
                                                     batch["drivable"].long())
        if "lane" in out:
            logits = out["lane"].float()
            target = batch["lane"].long()
            weight = torch.tensor([float(cfg["lane_bg_weight"]), 1.0], device=logits.device)
            lane = masked_cross_entropy(logits, target, weight)
            if cfg["lane_overlap"] == "tversky":
                lane = lane + tversky_loss(
                    logits, target, float(cfg["tversky_alpha"]), float(cfg["tversky_beta"])
                )
            elif cfg["lane_overlap"] == "dice":
                lane = lane + tversky_loss(logits, target, 0.5, 0.5)
            terms["lane"] = lane
        return terms

    def forward(
        self, out: dict[str, Any], batch: dict[str, Any], seg_enabled: bool = True
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``batch`` holds ``boxes``/``classes`` lists and ``drivable``/``lane`` tensors."""
        alpha, beta = float(self.cfg["alpha"]), float(self.cfg["beta"])
        det_terms = (
            self.detection_loss(out["det"], batch["boxes"], batch["classes"],
                                batch.get("has_det"))
            if "det" in out
            else {}
        )
        seg_terms = self.segmentation_loss(out, batch) if seg_enabled else {}
        l_det = sum(det_terms.values()) if det_terms else None
        l_seg = sum(seg_terms.values()) if seg_terms else None
        parts = [x for x in (
            alpha * l_det if l_det is not None else None,
            beta * l_seg if l_seg is not None else None,
        ) if x is not None]
        if not parts:
            raise ValueError("nothing to train: no task output has a loss")
        total = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        logs = {k: float(v.detach()) for k, v in {**det_terms, **seg_terms}.items()}
        logs["total"] = float(total.detach())
        return total, logs
