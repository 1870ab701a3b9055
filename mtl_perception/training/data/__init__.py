"""Training data: BDD100K's official layout (real or synthetic), augmentation, lane masks.

The torch-based dataset classes load lazily, so label parsing and lane rasterization serve the
torch-free tools (offline scoring, the demo) without pulling torch into their process.
"""

from typing import Any

from mtl_perception.io.bdd_labels import (
    LabelStats,
    parse_det_frame,
    parse_lane_frame,
    remap_drivable,
    resolve_classes,
)
from mtl_perception.io.lanes import poly2d_points, rasterize_lanes, scaled_lane_width
from mtl_perception.training.data.augment import Augment, AugmentConfig, apply_affine, hflip

__all__ = [
    "Augment",
    "AugmentConfig",
    "BDDDataset",
    "BddDataset",
    "LabelStats",
    "apply_affine",
    "bdd_paths",
    "collate",
    "hflip",
    "parse_det_frame",
    "parse_lane_frame",
    "poly2d_points",
    "rasterize_lanes",
    "remap_drivable",
    "resolve_classes",
    "scaled_lane_width",
]

_TORCH_NAMES = frozenset({"BDDDataset", "BddDataset", "bdd_paths", "collate"})


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from mtl_perception.training.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
