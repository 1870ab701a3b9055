"""Lane polylines (BDD100K ``poly2d``) -> lane masks with a configurable line width.

BDD100K ships lanes only as polylines; masks are drawn from them. The width is a convention:
8 px at 1280x720 for training, thinner for evaluation, scaled with the image size so that a
mask drawn at 640x360 looks like the 1280x720 one shrunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

REFERENCE_WIDTH = 1280  # the image width at which lane widths are quoted


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
    """Draw polylines ([N, 2] pixel coordinates) ``width`` px wide into a uint8 mask.

    A pixel is painted when its centre lies within the band [-w/2, w/2) across a segment, or
    within w/2 of a vertex (round joins). This gives exactly ``w`` pixels across an
    axis-aligned line for every ``w``, even ones: cv2's thick lines only come in odd widths
    (thickness 8 paints 9 px), which would bias every lane mask and the IoU measured on it.
    """
    if out is None:
        out = np.zeros(shape_hw, np.uint8)
    h, w = out.shape[:2]
    half = max(float(width), 1.0) / 2
    for line in polylines:
        p = np.asarray(line, np.float64)
        for a, b in pairwise(p):
            x0 = max(int(np.floor(min(a[0], b[0]) - half)), 0)
            x1 = min(int(np.ceil(max(a[0], b[0]) + half)) + 1, w)
            y0 = max(int(np.floor(min(a[1], b[1]) - half)), 0)
            y1 = min(int(np.ceil(max(a[1], b[1]) + half)) + 1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            gx = np.arange(x0, x1, dtype=np.float64)[None, :] - a[0]
            gy = np.arange(y0, y1, dtype=np.float64)[:, None] - a[1]
            d = b - a
            length = float(np.hypot(d[0], d[1]))
            if length < 1e-9:
                hit = gx * gx + gy * gy < half * half
            else:
                ux, uy = d / length
                along = gx * ux + gy * uy
                across = gy * ux - gx * uy
                band = (along >= 0) & (along <= length) & (across >= -half) & (across < half)
                ex, ey = gx - d[0], gy - d[1]
                joins = (gx * gx + gy * gy < half * half) | (ex * ex + ey * ey < half * half)
                hit = band | joins
            out[y0:y1, x0:x1][hit] = value
    return out
