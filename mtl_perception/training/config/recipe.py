"""Training/model recipes: load a YAML file, fill in defaults, and reject bad values early.

A recipe is a plain dict so it can be stored inside checkpoints (``weights_only=True`` safe)
and hashed into exported models. Everything that shapes the network or the loss lives here.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from mtl_perception.common.classes import (
    BDD_CLASSES,
    DRIVABLE_CLASSES,
    VEHICLE,
    VEHICLE_MEMBERS,
    class_index,
)
from mtl_perception.common.errors import MtlError
from mtl_perception.training.config.schema import SchemaError, check_ranges, check_tree

TASKS: tuple[str, ...] = ("detection", "drivable", "lane")
BACKBONES: tuple[str, ...] = ("mobilenetv2", "resnet50")

DEFAULTS: dict[str, Any] = {
    "name": "unnamed",
    "backbone": {"name": "mobilenetv2", "pretrained": True},
    "input_size": [384, 640],
    "classes": list(BDD_CLASSES),
    "drivable_classes": 3,
    "tasks": list(TASKS),
    "strides": [8, 16, 32],
    "neck": {"channels": 160, "repeats": 3, "separable": False},
    "det_head": {"convs": 2, "separable": False},
    # output_stride 2 refines the masks at half the input size before up-sampling; 4 stops at
    # the low-level skip's stride. shared: one decoder feeds both masks' classifiers.
    "seg_head": {"channels": 64, "low_level_channels": 32, "output_stride": 2,
                 "shared": False, "separable": False},
    # Anchors in network-input pixels at ``input_size``: [level][anchor] = [w, h].
    "anchors": [
        [[8, 12], [18, 14], [12, 28]],
        [[30, 26], [24, 56], [56, 44]],
        [[96, 72], [72, 150], [190, 140]],
    ],
    "anchor_kmeans": False,
    # Data side (read by mtl_perception.training.data.BDDDataset): lane mask width at
    # 1280 px wide, and AugmentConfig fields for training-time augmentation.
    "lane_width_px": 8.0,
    "augment": {},
    "loss": {
        "alpha": 1.0,
        "beta": 1.0,
        "box_loss": "ciou",
        "box": 0.05,
        "obj": 1.0,
        "cls": 0.5,
        "obj_level_weights": [4.0, 1.0, 0.4],
        # Objectness target of a positive = (1 - r) + r * IoU(prediction, box): r = 1 ranks by
        # localization quality; a smaller r lifts small, hard-to-fit objects sooner.
        "obj_iou_ratio": 1.0,
        # A box trains every anchor within this width/height ratio (plus always its best one).
        # 4.0 matched most cars on 2-3 levels, whose boxes survived NMS as duplicates; 2.0
        # keeps them to one or two (test_model; docs/training.md, benchmark).
        "anchor_ratio_max": 2.0,
        "lane_overlap": "tversky",
        "tversky_alpha": 0.3,
        "tversky_beta": 0.7,
        "lane_bg_weight": 0.2,
        "class_balanced": False,
        "class_balanced_beta": 0.999,
    },
    "train": {
        "epochs_phase1": 60,
        "epochs_phase2": 140,
        "batch_size": 16,
        "optimizer": "adamw",
        "lr": 0.002,
        "weight_decay": 0.0005,
        "warmup_epochs": 1.0,
        "val_every": 5,
        "workers": 4,
        "amp": True,
        # NHWC weights and activations: PyTorch's CPU (oneDNN) and cuDNN convolutions run
        # faster on them; the step's losses and gradients are the same (test_train).
        "channels_last": True,
        "seed": 0,
        "grad_clip": 10.0,
        # Exponential moving average of the weights (training/engine/ema.py): 0 = off; else the
        # decay, ramped up over about ema_tau_steps optimizer steps. Validation, best.pt and
        # export then use the averaged weights; resume restores both.
        "ema_decay": 0.0,
        "ema_tau_steps": 2000.0,
    },
    "eval": {"conf_threshold": 0.001, "iou_threshold": 0.6, "max_detections": 300},
}


class RecipeError(MtlError, ValueError):
    """The recipe file is missing or holds a value the model cannot be built from."""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe, merge it over :data:`DEFAULTS` and validate it."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {path} must be a YAML mapping, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    try:
        return normalize_recipe(raw)
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from exc


def normalize_recipe(raw: dict[str, Any]) -> dict[str, Any]:
    """Merge a (partial) recipe dict over the defaults and validate it.

    Every key at every depth must be one of the defaults' (``augment``: an ``AugmentConfig``
    field) and every value must have its default's type; see ``recipe_schema``.
    """
    if not isinstance(raw, dict):
        raise RecipeError(f"a recipe must be a mapping; got {type(raw).__name__}")
    try:
        check_tree(raw, DEFAULTS)
    except SchemaError as exc:
        raise RecipeError(str(exc)) from exc
    recipe = _merge(DEFAULTS, raw)
    validate_recipe(recipe)
    return recipe


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise RecipeError(msg)


def validate_recipe(recipe: dict[str, Any]) -> None:
    """Raise :class:`RecipeError` with a one-line reason for the first bad value."""
    try:
        check_ranges(recipe)
    except SchemaError as exc:
        raise RecipeError(str(exc)) from exc
    bb = recipe["backbone"]
    _require(bb.get("name") in BACKBONES, f"backbone.name must be one of {BACKBONES}")
    width = bb.get("width_mult", 1.0)
    _require(
        isinstance(width, int | float) and 0.1 <= width <= 2.0,
        f"backbone.width_mult must be a number in [0.1, 2.0]; got {width!r}",
    )
    _require(
        width == 1.0 or bb["name"] == "mobilenetv2", "backbone.width_mult applies to mobilenetv2"
    )
    size = recipe["input_size"]
    _require(
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 and v % 32 == 0 for v in size),
        f"input_size must be [H, W], positive multiples of 32; got {size}",
    )
    classes = recipe["classes"]
    _require(
        isinstance(classes, list) and len(classes) > 0
        and all(isinstance(c, str) for c in classes) and len(set(classes)) == len(classes),
        "classes must be a non-empty list of unique names",
    )
    allowed = set(BDD_CLASSES) | {VEHICLE}
    bad = [c for c in classes if c not in allowed]
    _require(not bad, f"unknown classes {bad}; allowed: {sorted(allowed)}")
    if VEHICLE in classes:
        both = [c for c in classes if c in VEHICLE_MEMBERS]
        _require(not both, f"'vehicle' already merges {VEHICLE_MEMBERS}; remove {both}")
    _require(recipe["drivable_classes"] in DRIVABLE_CLASSES, "drivable_classes must be 2 or 3")
    tasks = recipe["tasks"]
    _require(
        isinstance(tasks, list) and tasks and all(isinstance(t, str) and t in TASKS for t in tasks)
        and len(set(tasks)) == len(tasks),
        f"tasks must be a non-empty subset of {TASKS}",
    )
    _require(recipe["seg_head"]["output_stride"] in (2, 4),
             f"seg_head.output_stride must be 2 or 4; got {recipe['seg_head']['output_stride']!r}")
    _require(recipe["strides"] == [8, 16, 32], "strides must be [8, 16, 32] (P3-P5)")
    anchors = recipe["anchors"]
    ok = (
        isinstance(anchors, list)
        and len(anchors) == 3
        and all(
            isinstance(level, list) and len(level) == 3
            and all(isinstance(a, list) and len(a) == 2
                    and all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                            for v in a) for a in level)
            for level in anchors
        )
    )
    _require(ok, "anchors must be 3 levels x 3 anchors of positive [w, h]")
    loss = recipe["loss"]
    _require(loss["box_loss"] in ("ciou", "giou", "diou", "iou"),
             f"loss.box_loss must be ciou, giou, diou or iou; got {loss['box_loss']!r}")
    _require(loss["lane_overlap"] in ("tversky", "dice", "none"),
             f"loss.lane_overlap must be tversky, dice or none; got {loss['lane_overlap']!r}")
    _require(recipe["train"]["optimizer"] in ("adamw", "sgd"),
             f"train.optimizer must be adamw or sgd; got {recipe['train']['optimizer']!r}")

def class_names(recipe: dict[str, Any]) -> list[str]:
    return list(recipe["classes"])


def category_to_class(recipe: dict[str, Any]) -> dict[str, int]:
    """Map a BDD100K category name to the recipe's class index (absent = not trained)."""
    return class_index(recipe["classes"])


def drivable_class_names(recipe: dict[str, Any]) -> list[str]:
    return list(DRIVABLE_CLASSES[int(recipe["drivable_classes"])])


def recipe_hash(recipe: dict[str, Any]) -> str:
    """A stable short hash of the recipe (exported into model metadata)."""
    blob = json.dumps(recipe, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def with_input_size(recipe: dict[str, Any], hw: tuple[int, int]) -> dict[str, Any]:
    """Copy of ``recipe`` at another input size; anchors scale with the image."""
    out = copy.deepcopy(recipe)
    old_h, old_w = recipe["input_size"]
    sy, sx = hw[0] / old_h, hw[1] / old_w
    out["input_size"] = [int(hw[0]), int(hw[1])]
    out["anchors"] = [
        [[round(w * sx, 2), round(h * sy, 2)] for w, h in level] for level in recipe["anchors"]
    ]
    validate_recipe(out)
    return out
