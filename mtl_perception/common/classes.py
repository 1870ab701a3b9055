"""The class conventions every layer shares: BDD100K's categories and our pixel class ids.

Why here: the dataset, the recipe check, the evaluator, the tools and the node's label_info
all name classes; one definition keeps a model's class ids meaning the same thing from
training to the published Detection2DArray.
"""

from __future__ import annotations

from typing import Any, Sequence

# BDD100K's 10 detection categories, in the order the official det_20 evaluation lists them.
BDD_CLASSES: tuple[str, ...] = (
    "pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
    "traffic light", "traffic sign",
)
# The peers' single "vehicle" class merges these four categories.
VEHICLE = "vehicle"
VEHICLE_MEMBERS: tuple[str, ...] = ("car", "truck", "bus", "train")
# Older BDD releases (bdd100k_labels_images_*.json) used these names.
CATEGORY_ALIASES: dict[str, str] = {"person": "pedestrian", "bike": "bicycle",
                                    "motor": "motorcycle"}
# Real det_20 categories outside the 10 evaluated ones: dropped without counting as errors.
EXTRA_CATEGORIES = frozenset({"other vehicle", "other person", "trailer"})

# Pixel class ids of the segmentation outputs and ground truth (255 = unlabelled).
DRIVABLE_CLASSES: dict[int, tuple[str, ...]] = {
    3: ("background", "direct", "alternative"),
    2: ("background", "drivable"),
}
LANE_CLASSES: tuple[str, ...] = ("background", "lane")


def class_index(names: Sequence[str]) -> dict[str, int]:
    """Category name -> model class id; car/truck/bus/train map to ``vehicle`` if it exists."""
    index = {n: i for i, n in enumerate(names)}
    if VEHICLE in index:
        for member in VEHICLE_MEMBERS:
            index.setdefault(member, index[VEHICLE])
    return index


def is_crowd(label: dict[str, Any]) -> bool:
    """scalabel's rule: a ``crowd`` or ``ignored`` attribute makes a label an ignore region."""
    attrs = label.get("attributes") or {}
    return isinstance(attrs, dict) and bool(attrs.get("crowd") or attrs.get("ignored"))
