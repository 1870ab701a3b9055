"""Anchor priors: k-means (1 - IoU distance) over training box sizes, grouped per level.

Numpy only, so it can run on label files without torch. Anchors are [w, h] in network-input
pixels at the recipe's input size; levels are ordered P3 (small) to P5 (large).
"""

from __future__ import annotations

import numpy as np


def wh_iou(wh: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """IoU of boxes and centroids that share a centre: [N, 2] x [K, 2] -> [N, K]."""
    inter = np.minimum(wh[:, None, 0], centroids[None, :, 0]) * np.minimum(
        wh[:, None, 1], centroids[None, :, 1]
    )
    area_a = (wh[:, 0] * wh[:, 1])[:, None]
    area_b = (centroids[:, 0] * centroids[:, 1])[None, :]
    return inter / (area_a + area_b - inter + 1e-9)


def kmeans_anchors(
    wh: np.ndarray, n_levels: int = 3, per_level: int = 3, iters: int = 100, seed: int = 0
) -> np.ndarray:
    """Cluster box sizes into ``n_levels * per_level`` anchors -> float32 [L, A, 2] by area."""
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    wh = wh[(wh[:, 0] >= 2) & (wh[:, 1] >= 2)]
    k = n_levels * per_level
    if len(wh) < k:
        raise ValueError(f"k-means anchors need at least {k} boxes of >= 2 px, got {len(wh)}")
    rng = np.random.default_rng(seed)
    # k-means++ style seeding on 1 - IoU keeps small and large boxes both represented.
    centroids = [wh[rng.integers(len(wh))]]
    for _ in range(1, k):
        d = 1.0 - wh_iou(wh, np.array(centroids)).max(axis=1)
        prob = d**2 / max(float((d**2).sum()), 1e-12)
        centroids.append(wh[rng.choice(len(wh), p=prob)])
    c = np.array(centroids)
    for _ in range(iters):
        assign = wh_iou(wh, c).argmax(axis=1)
        new = np.array(
            [np.median(wh[assign == j], axis=0) if np.any(assign == j) else c[j] for j in range(k)]
        )
        if np.allclose(new, c):
            break
        c = new
    c = c[np.argsort(c[:, 0] * c[:, 1])]
    return c.reshape(n_levels, per_level, 2).astype(np.float32)


def anchor_recall(wh: np.ndarray, anchors: np.ndarray, ratio_max: float = 4.0) -> float:
    """Fraction of boxes that at least one anchor can match under the w/h ratio rule."""
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    if len(wh) == 0:
        return 1.0
    a = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    r = wh[:, None, :] / a[None, :, :]
    worst = np.maximum(r, 1.0 / r).max(axis=2)
    return float((worst.min(axis=1) < ratio_max).mean())
