"""Target assignment: which (image, anchor, cell) predicts which ground-truth box.

An anchor matches a box when their width and height ratios stay within ``ratio_max``
(on any level); the box's best-fitting anchor over all levels always matches, so that a tight
``ratio_max`` (fewer levels per box, fewer cross-level duplicates) never leaves a box with no
positive at all. The box's own cell and the two nearest neighbouring cells all predict it,
which triples the positives and lets the centre offset span (-0.5, 1.5) of a cell.

Two boxes close together (parked cars, a car half behind another) often claim the same
(image, anchor, cell) slot. One output cannot regress to two boxes: trained on both, it learns
their average and, with an IoU-valued objectness, emits a confident box that fits neither.
Each contested slot therefore goes to the box whose shape fits that anchor best (then the box
whose centre is nearest the cell); the other box keeps its uncontested slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtl_perception.training.config.recipe import DEFAULTS


@dataclass
class LevelTargets:
    """Positives of one level. ``box`` = (x, y offset in the cell, w, h) in grid units."""

    image: torch.Tensor  # [n] long
    anchor: torch.Tensor  # [n] long
    gy: torch.Tensor  # [n] long
    gx: torch.Tensor  # [n] long
    box: torch.Tensor  # [n, 4] float
    anchor_wh: torch.Tensor  # [n, 2] float, grid units
    cls: torch.Tensor  # [n] long


def _gather_gt(
    boxes: list[torch.Tensor], classes: list[torch.Tensor], device: torch.device
) -> torch.Tensor:
    """-> [N, 6] (image index, class, cx, cy, w, h) in pixels."""
    rows = []
    for i, (b, c) in enumerate(zip(boxes, classes, strict=True)):
        if len(b) == 0:
            continue
        b = b.to(device=device, dtype=torch.float32).view(-1, 4)
        cxcy = (b[:, :2] + b[:, 2:]) / 2
        wh = (b[:, 2:] - b[:, :2]).clamp(min=1e-3)
        idx = torch.full((len(b), 1), float(i), device=device)
        rows.append(torch.cat([idx, c.to(device).float().view(-1, 1), cxcy, wh], dim=1))
    if not rows:
        return torch.zeros((0, 6), device=device)
    return torch.cat(rows)


def _slot_winners(
    image: torch.Tensor, anchor: torch.Tensor, gy: torch.Tensor, gx: torch.Tensor,
    grid: tuple[int, int], n_anchors: int, cost: torch.Tensor,
) -> torch.Tensor:
    """Indices of the candidates to keep: the lowest-cost one per (image, anchor, gy, gx)."""
    if len(cost) == 0:
        return torch.zeros(0, dtype=torch.long, device=cost.device)
    h, w = grid
    slot = ((image * n_anchors + anchor) * h + gy) * w + gx
    order = torch.argsort(cost, stable=True)
    uniq, inverse = torch.unique(slot[order], return_inverse=True)
    first = torch.full((len(uniq),), len(order), dtype=torch.long, device=cost.device)
    first = first.scatter_reduce(
        0, inverse, torch.arange(len(order), device=cost.device), reduce="amin"
    )
    return order[first]


def _best_anchor(wh: torch.Tensor, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(level, anchor) of the lowest shape mismatch per box; ``wh`` [N, 2] and ``anchors``
    [L, A, 2] in the same pixels (the ratio does not depend on the stride)."""
    n_anchors = anchors.shape[1]
    ratio = wh[:, None] / anchors.view(1, -1, 2)  # [N, L*A, 2]
    best = torch.maximum(ratio, 1.0 / ratio).amax(dim=2).argmin(dim=1)
    return best // n_anchors, best % n_anchors


def build_targets(
    grid_shapes: list[tuple[int, int]],
    strides: list[int],
    anchors: torch.Tensor,
    boxes: list[torch.Tensor],
    classes: list[torch.Tensor],
    ratio_max: float = float(DEFAULTS["loss"]["anchor_ratio_max"]),
) -> list[LevelTargets]:
    """Assign ground truth (xyxy px per image) to every level's anchors and cells."""
    device = anchors.device
    gt = _gather_gt(boxes, classes, device)
    best_level, best_anchor = _best_anchor(gt[:, 4:], anchors)
    out: list[LevelTargets] = []
    for level, ((h, w), stride) in enumerate(zip(grid_shapes, strides, strict=True)):
        anch = anchors[level] / stride  # [3, 2] grid units
        if len(gt) == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            out.append(
                LevelTargets(
                    empty, empty, empty, empty,
                    torch.zeros((0, 4), device=device), torch.zeros((0, 2), device=device), empty,
                )
            )
            continue
        g = gt[:, 2:] / stride  # cx, cy, w, h in grid units
        ratio = g[:, None, 2:] / anch[None]  # [N, 3, 2]
        mismatch = torch.maximum(ratio, 1.0 / ratio).amax(dim=2)  # [N, 3], 1 = perfect fit
        ok = mismatch < ratio_max
        ok[best_level == level, best_anchor[best_level == level]] = True
        n_idx, a_idx = ok.nonzero(as_tuple=True)
        gm = g[n_idx]
        cxy = gm[:, :2]
        frac = cxy % 1.0
        base = cxy.floor()
        # Candidate cells: own, left/right neighbour nearest the centre, up/down likewise.
        cand = [(base, torch.ones(len(gm), dtype=torch.bool, device=device))]
        left = (frac[:, 0] < 0.5) & (cxy[:, 0] > 1.0)
        right = (frac[:, 0] > 0.5) & (cxy[:, 0] < w - 1.0)
        up = (frac[:, 1] < 0.5) & (cxy[:, 1] > 1.0)
        down = (frac[:, 1] > 0.5) & (cxy[:, 1] < h - 1.0)
        shifts = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]], device=device)
        for sel, sh in zip((left, right, up, down), shifts, strict=True):
            cand.append((base + sh, sel))
        cells = torch.cat([c for c, _ in cand])
        keep = torch.cat([m for _, m in cand])
        rep = len(cand)
        n_all = n_idx.repeat(rep)[keep]
        a_all = a_idx.repeat(rep)[keep]
        cells = cells[keep]
        gx = cells[:, 0].clamp(0, w - 1)
        gy = cells[:, 1].clamp(0, h - 1)
        g_all = g[n_all]
        offset = g_all[:, :2] - torch.stack([gx, gy], dim=1)
        centre_dist = (offset - 0.5).abs().sum(dim=1)  # < 2 cells; only breaks shape ties
        winner = _slot_winners(
            gt[n_all, 0].long(), a_all, gy.long(), gx.long(), (h, w), len(anch),
            mismatch[n_all, a_all] + 1e-3 * centre_dist,
        )
        n_all, a_all, gx, gy = n_all[winner], a_all[winner], gx[winner], gy[winner]
        g_all, offset = g_all[winner], offset[winner]
        out.append(
            LevelTargets(
                image=gt[n_all, 0].long(),
                anchor=a_all,
                gy=gy.long(),
                gx=gx.long(),
                box=torch.cat([offset, g_all[:, 2:]], dim=1),
                anchor_wh=anch[a_all],
                cls=gt[n_all, 1].long(),
            )
        )
    return out
