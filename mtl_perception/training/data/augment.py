"""Training augmentation that keeps image, boxes, drivable mask and lanes consistent.

All geometry is one affine matrix (flip, scale about the centre, translate) applied to every
target at once; lanes stay polylines until after the geometry, so they are rasterized at the
final width instead of being resampled as a thin mask (which would break them up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mtl_perception.common.constants import PAD_VALUE

MASK_PAD = 0  # masks: outside the image is background


@dataclass
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    hsv: tuple[float, float, float] = (0.015, 0.6, 0.35)  # max relative gain of H, S, V
    scale: tuple[float, float] = (0.75, 1.25)
    translate: float = 0.1  # max shift as a fraction of the input size
    min_box: float = 2.0  # px: boxes thinner than this after clipping are dropped
    min_visible: float = 0.25  # boxes keeping less of their area after clipping are dropped


def _index_matrix(m: np.ndarray) -> np.ndarray:
    """Continuous-coordinate affine -> the pixel-index form cv2.warpAffine expects."""
    out = m.astype(np.float64).copy()
    out[:, 2] += 0.5 * m[:, :2].sum(axis=1) - 0.5
    return out


def transform_boxes(boxes: np.ndarray, m: np.ndarray, hw: tuple[int, int], min_box: float = 2.0,
                    min_visible: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Affine-map xyxy boxes, clip to the image, return (boxes, indices of the kept ones)."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4).astype(np.float32), np.zeros(0, np.int64)
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x1, y2], 1),
                        np.stack([x2, y2], 1)], 1)  # [M, 4, 2]
    mapped = corners @ m[:, :2].T + m[:, 2]
    full = np.concatenate([mapped.min(1), mapped.max(1)], 1)
    h, w = hw
    clipped = full.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, w)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, h)
    cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    area = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])
    keep = (cw >= min_box) & (ch >= min_box) & (cw * ch >= min_visible * np.maximum(area, 1e-9))
    idx = np.flatnonzero(keep)
    return clipped[idx].astype(np.float32), idx


def hsv_jitter(image: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Multiply hue/saturation/value of an RGB uint8 image by ``gains`` (via lookup tables)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x * gains[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    h, s, v = cv2.split(hsv)
    hsv = cv2.merge([cv2.LUT(h, lut_h), cv2.LUT(s, lut_s), cv2.LUT(v, lut_v)])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def apply_affine(sample: dict[str, Any], m: np.ndarray, config: AugmentConfig | None = None
                 ) -> dict[str, Any]:
    """Apply the continuous-coordinate 2x3 affine ``m`` to every spatial entry of ``sample``.

    Entries: ``image`` (uint8 [H, W, 3]), ``boxes``/``classes``, masks ``drivable`` and
    ``lane`` (nearest), ``lane_polylines`` (pixel coordinates) with ``lane_width`` (scaled by
    the matrix's scale). Returns a new dict; the input is not modified.
    """
    cfg = config or AugmentConfig()
    out = dict(sample)
    h, w = sample["image"].shape[:2]
    mi = _index_matrix(m)
    pure_flip = np.allclose(m, [[-1, 0, w], [0, 1, 0]])
    if pure_flip:  # exact and cheap
        out["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
    else:
        out["image"] = cv2.warpAffine(sample["image"], mi, (w, h), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
    for key in ("drivable", "lane"):
        if key in sample and sample[key] is not None:
            mask = sample[key]
            out[key] = (np.ascontiguousarray(mask[:, ::-1]) if pure_flip else cv2.warpAffine(
                mask, mi, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                borderValue=MASK_PAD))
    if "boxes" in sample:
        boxes, idx = transform_boxes(sample["boxes"], m, (h, w), cfg.min_box, cfg.min_visible)
        out["boxes"] = boxes
        out["classes"] = sample["classes"][idx]
    if "lane_polylines" in sample:
        out["lane_polylines"] = [p @ mi[:, :2].T.astype(np.float32) + mi[:, 2].astype(np.float32)
                                 for p in sample["lane_polylines"]]
        out["lane_width"] = sample.get("lane_width", 1.0) * float(np.sqrt(abs(np.linalg.det(
            m[:, :2]))))
    return out


def flip_matrix(width: int) -> np.ndarray:
    """Horizontal flip in continuous coordinates: x -> width - x."""
    return np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0]])


def hflip(sample: dict[str, Any]) -> dict[str, Any]:
    return apply_affine(sample, flip_matrix(sample["image"].shape[1]))


class Augment:
    """Random flip + scale + translate (one matrix), then HSV jitter of the image only."""

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()

    def matrix(self, rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
        cfg = self.config
        h, w = hw
        s = float(rng.uniform(*cfg.scale))
        tx, ty = (float(v) for v in rng.uniform(-cfg.translate, cfg.translate, 2) * (w, h))
        m = np.array([[s, 0.0, (1 - s) * w / 2 + tx], [0.0, s, (1 - s) * h / 2 + ty]])
        if rng.random() < cfg.flip:
            f = flip_matrix(w)
            m = np.vstack([f, [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]])
            m = m[:2]
        return m

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        out = apply_affine(sample, self.matrix(rng, sample["image"].shape[:2]), self.config)
        gains = 1.0 + rng.uniform(-1, 1, 3) * np.asarray(self.config.hsv)
        out["image"] = hsv_jitter(out["image"], gains)
        return out
