"""Test models: the package's ONNX factory, plus an oracle model built from ground truth.

The constant and random models come from ``mtl_perception.devtools.onnx_models`` (the one
factory for tests and benchmarks); this module re-exports them under the names the tests
import and adds ``build_oracle_model``, which needs the evaluation's ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtl_perception.devtools.onnx_models import (
    CLASSES,
    build_constant_model,
    build_random_model,
    known_outputs,
)
from mtl_perception.inference.letterbox import Letterbox

__all__ = ["CLASSES", "build_constant_model", "build_oracle_model", "build_random_model",
           "known_outputs"]


def build_oracle_model(path: Path, truth: Any, source_hw: tuple[int, int],
                       input_hw: tuple[int, int], classes: Sequence[str]) -> Path:
    """A constant model whose outputs are one frame's ground truth (a ``GroundTruth`` frame),
    letterboxed into network space: every downstream metric for that frame must be perfect."""
    lb = Letterbox.fit(source_hw, input_hw)
    boxes = lb.boxes_to_network(
        np.array([[b.x1, b.y1, b.x2, b.y2] for b in truth.boxes], np.float32).reshape(-1, 4))
    scores = np.zeros((len(boxes), len(classes)), np.float32)
    for i, b in enumerate(truth.boxes):
        scores[i, list(classes).index(b.label)] = 0.9
    outputs = {
        "boxes": boxes[None], "scores": scores[None],
        "drivable": lb.apply(truth.drivable, input_hw, 0, interpolation=cv2.INTER_NEAREST)[None],
        "lane": lb.apply(truth.lane, input_hw, 0, interpolation=cv2.INTER_NEAREST)[None],
    }
    return build_constant_model(path, input_hw, outputs, classes=tuple(classes))
