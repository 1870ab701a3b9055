"""Draw detections and tinted masks onto a BGR image (node overlay, offline runner, demo).

One implementation so every picture of a result looks the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from mtl_perception.inference.postprocess import Detections

# BGR tints per mask class id (index 0 = background, never drawn).
DRIVABLE_COLORS = np.array([[0, 0, 0], [80, 200, 0], [200, 120, 0], [160, 0, 200]], np.uint8)
LANE_COLORS = np.array([[0, 0, 0], [0, 220, 255], [255, 0, 255]], np.uint8)


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per detection class."""
    hue = (int(class_id) * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def tint_mask(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, alpha: float) -> None:
    """Blend ``palette[class]`` into ``image`` (in place) wherever ``mask`` is non-zero."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    where = mask > 0
    if not where.any():
        return
    ids = np.minimum(mask[where], len(palette) - 1)
    blended = image[where].astype(np.float32) * (1.0 - alpha) + palette[ids] * alpha
    image[where] = blended.astype(np.uint8)


def draw_detections(
    image: np.ndarray, detections: Detections, class_names: Sequence[str] | None = None
) -> None:
    """Boxes with 'name score' labels, in place."""
    h, w = image.shape[:2]
    thickness = max(1, round(min(h, w) / 360))
    font_scale = max(0.4, min(h, w) / 1200)
    for box, score, cid, name in zip(
        detections.boxes, detections.scores, detections.class_ids, detections.class_names
    ):
        label = name or (class_names[cid] if class_names else str(cid))
        color = class_color(int(cid))
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        text = f"{label} {float(score):.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
        cv2.rectangle(image, (x1, ty - th - base), (x1 + tw + 2, ty + 1), color, -1)
        cv2.putText(image, text, (x1 + 1, ty - base + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), 1, cv2.LINE_AA)


def draw_overlay(
    bgr: np.ndarray,
    detections: Detections,
    drivable: np.ndarray | None = None,
    lane: np.ndarray | None = None,
    alpha: float = 0.45,
    copy: bool = True,
) -> np.ndarray:
    """The full overlay: tinted drivable area, then lanes, then boxes. Returns BGR uint8."""
    out = bgr.copy() if copy else bgr
    if drivable is not None:
        tint_mask(out, drivable, DRIVABLE_COLORS, alpha)
    if lane is not None:
        tint_mask(out, lane, LANE_COLORS, min(1.0, alpha + 0.3))
    draw_detections(out, detections)
    return out
