"""Lane polylines (BDD100K ``poly2d``) -> lane masks with a configurable line width.

BDD100K ships lanes only as polylines; masks are drawn from them. The width is a convention:
8 px at 1280x720 for training, thinner for evaluation, scaled with the image size so that a
mask drawn at 640x360 looks like the 1280x720 one shrunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

REFERENCE_WIDTH = 1280  # the image width at which lane widths are quoted
_SHIFT = 3  # cv2 sub-pixel bits: vertices are drawn with 1/8 px precision


def scaled_lane_width(width_at_1280: float, image_width: float) -> float:
    """The lane width to use for an image ``image_width`` px wide."""
    return width_at_1280 * image_width / REFERENCE_WIDTH


def _bezier(ctrl: np.ndarray, n: int = 16) -> np.ndarray:
    """Points on the Bezier curve with control polygon ``ctrl`` (de Casteljau), excluding t=0."""
    t = np.linspace(0.0, 1.0, n + 1)[1:, None, None]
    pts = np.broadcast_to(ctrl[None], (n, *ctrl.shape)).copy()
    while pts.shape[1] > 1:
        pts = (1 - t) * pts[:, :-1] + t * pts[:, 1:]
    return pts[:, 0]


def poly2d_points(poly: dict[str, Any]) -> np.ndarray:
    """One ``poly2d`` entry -> float32 [N, 2] points; 'C' vertices are Bezier control points.

    Raises ValueError on malformed input (the loader counts and skips those).
    """
    verts = np.asarray(poly["vertices"], dtype=np.float64)
    if verts.ndim != 2 or verts.shape[1] != 2 or len(verts) < 2 or not np.isfinite(verts).all():
        raise ValueError("poly2d needs >= 2 finite [x, y] vertices")
    types = poly.get("types") or "L" * len(verts)
    if len(types) != len(verts) or set(types) - {"L", "C"} or types[0] != "L":
        raise ValueError(f"poly2d types {types!r} do not match its {len(verts)} vertices")
    out = [verts[:1]]
    i = 0
    while i < len(verts) - 1:
        j = i + 1
        while j < len(verts) and types[j] == "C":
            j += 1
        if j == len(verts):  # trailing control points: end the curve at the last one
            j = len(verts) - 1
        out.append(verts[i + 1 : j + 1] if j == i + 1 else _bezier(verts[i : j + 1]))
        i = j
    pts = np.concatenate(out)
    if poly.get("closed"):
        pts = np.concatenate([pts, pts[:1]])
    return pts.astype(np.float32)


def rasterize_lanes(
    polylines: Sequence[np.ndarray],
    shape_hw: tuple[int, int],
    width: float,
    out: np.ndarray | None = None,
    value: int = 1,
) -> np.ndarray:
    """Draw polylines ([N, 2] pixel coordinates) ``width`` px wide into a uint8 mask."""
    if out is None:
        out = np.zeros(shape_hw, np.uint8)
    if polylines:
        scale = 1 << _SHIFT
        pts = [np.round(np.asarray(p, np.float64) * scale).astype(np.int32).reshape(-1, 1, 2)
               for p in polylines if len(p) >= 2]
        thickness = max(1, round(width))
        cv2.polylines(out, pts, False, value, thickness, cv2.LINE_8, _SHIFT)
    return out
