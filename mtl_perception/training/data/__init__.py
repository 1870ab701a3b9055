"""Training data: BDD100K's official layout (real or synthetic), augmentation, lane masks."""

from mtl_perception.training.data.augment import Augment, AugmentConfig, apply_affine, hflip
from mtl_perception.training.data.bdd import (
    BDD_CLASSES,
    IGNORE,
    VEHICLE_CLASSES,
    LabelStats,
    parse_det_frame,
    parse_lane_frame,
    remap_drivable,
    resolve_classes,
)
from mtl_perception.training.data.dataset import BDDDataset, BddDataset, bdd_paths, collate
from mtl_perception.training.data.lanes import poly2d_points, rasterize_lanes, scaled_lane_width

__all__ = [
    "BDD_CLASSES",
    "IGNORE",
    "VEHICLE_CLASSES",
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
