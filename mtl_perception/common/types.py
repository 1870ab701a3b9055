"""Small value types that several layers pass between them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BoxLabel:
    """One 2D box: xyxy in image pixels, a class name and a score (1.0 for ground truth)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    score: float = 1.0
    crowd: bool = False  # a BDD ``crowd`` label: an ignore region for the bdd100k protocol
