"""Strict recipe checking: every key at every depth, every value's type and range.

The defaults in ``recipe.DEFAULTS`` are the schema: a key the defaults do not have (or, under
``augment``, that ``AugmentConfig`` does not have) is a typo, and a value must have its
default's type (booleans are booleans, integers are integers, a float may be written as an
integer). Every failure is one line naming the dotted key; an unknown key also names the
closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any

from mtl_perception.common.errors import MtlError

# Keys that are valid although the defaults leave them out (their absence means a default
# that is not stored, so recipes and their hashes stay as they were).
OPTIONAL: dict[str, Any] = {"backbone.width_mult": 1.0}

# (dotted key, lower, upper, lower inclusive, upper inclusive); None = unbounded.
RANGES: tuple[tuple[str, float | None, float | None, bool, bool], ...] = (
    ("backbone.width_mult", 0.1, 2.0, True, True),
    ("lane_width_px", 0.0, None, False, True),
    ("neck.channels", 1, None, True, True),
    ("neck.repeats", 1, None, True, True),
    ("det_head.convs", 0, None, True, True),
    ("seg_head.channels", 1, None, True, True),
    ("seg_head.low_level_channels", 1, None, True, True),
    ("loss.alpha", 0.0, None, True, True),
    ("loss.beta", 0.0, None, True, True),
    ("loss.box", 0.0, None, True, True),
    ("loss.obj", 0.0, None, True, True),
    ("loss.cls", 0.0, None, True, True),
    ("loss.obj_iou_ratio", 0.0, 1.0, True, True),
    ("loss.anchor_ratio_max", 1.0, None, False, True),
    ("loss.tversky_alpha", 0.0, 1.0, True, True),
    ("loss.tversky_beta", 0.0, 1.0, True, True),
    ("loss.lane_bg_weight", 0.0, None, True, True),
    ("loss.class_balanced_beta", 0.0, 1.0, True, False),
    ("train.epochs_phase1", 0, None, True, True),
    ("train.epochs_phase2", 0, None, True, True),
    ("train.batch_size", 1, None, True, True),
    ("train.lr", 0.0, None, False, True),
    ("train.weight_decay", 0.0, None, True, True),
    ("train.warmup_epochs", 0.0, None, True, True),
    ("train.val_every", 0, None, True, True),
    ("train.workers", 0, None, True, True),
    ("train.seed", 0, None, True, True),
    ("train.grad_clip", 0.0, None, True, True),
    ("train.ema_decay", 0.0, 1.0, True, False),
    ("train.ema_tau_steps", 0.0, None, False, True),
    ("eval.conf_threshold", 0.0, 1.0, True, True),
    ("eval.iou_threshold", 0.0, 1.0, False, True),
    ("eval.max_detections", 1, None, True, True),
    ("augment.flip", 0.0, 1.0, True, True),
    ("augment.hsv", 0.0, None, True, True),
    ("augment.scale", 0.0, None, False, True),
    ("augment.translate", 0.0, 1.0, True, False),
    ("augment.min_box", 0.0, None, True, True),
    ("augment.min_visible", 0.0, 1.0, True, True),
)


class SchemaError(MtlError, ValueError):
    """One line: what is wrong with which dotted key (recipe.RecipeError wraps it)."""


def augment_defaults() -> dict[str, Any]:
    """``AugmentConfig``'s fields and defaults (tuples as lists, as YAML writes them)."""
    from mtl_perception.training.data.augment import AugmentConfig

    return {f.name: list(v) if isinstance(v := getattr(AugmentConfig(), f.name), tuple) else v
            for f in dataclasses.fields(AugmentConfig)}


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, list):
        return "a list"
    return type(default).__name__


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _type_ok(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return _is_number(value)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    return True


def _unknown(dotted: str, key: str, allowed: list[str], prefix: str) -> SchemaError:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else \
        f"; valid keys here: {', '.join(sorted(allowed))}"
    return SchemaError(f"unknown recipe key {dotted!r}{hint}")


def check_tree(value: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> None:
    """Raise :class:`SchemaError` for the first unknown key or wrongly typed value."""
    allowed = list(schema) + [k[len(prefix):] for k in OPTIONAL
                              if k.startswith(prefix) and "." not in k[len(prefix):]]
    for key, val in value.items():
        dotted = f"{prefix}{key}"
        if not isinstance(key, str) or key not in allowed:
            raise _unknown(dotted, str(key), allowed, prefix)
        default = schema[key] if key in schema else OPTIONAL[dotted]
        if dotted == "augment":
            if not isinstance(val, dict):
                raise SchemaError(f"augment must be a mapping of AugmentConfig fields; got {val!r}")
            check_tree(val, augment_defaults(), "augment.")
            _check_augment(val)
        elif isinstance(default, dict):
            if not isinstance(val, dict):
                raise SchemaError(f"{dotted} must be a mapping; got {val!r}")
            check_tree(val, default, dotted + ".")
        elif not _type_ok(val, default):
            raise SchemaError(f"{dotted} must be {_type_name(default)}; got {val!r}")


def _check_augment(aug: dict[str, Any]) -> None:
    defaults = augment_defaults()
    for key, val in aug.items():
        want = defaults[key]
        if isinstance(want, list) and not (len(val) == len(want)
                                           and all(_is_number(v) for v in val)):
            raise SchemaError(f"augment.{key} must be a list of {len(want)} numbers; got {val!r}")
    lo, hi = aug.get("scale", defaults["scale"])
    if lo > hi:
        raise SchemaError(f"augment.scale must be [low, high] with low <= high; got {[lo, hi]}")


def _get(recipe: dict[str, Any], dotted: str) -> Any:
    node: Any = recipe
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_ranges(recipe: dict[str, Any]) -> None:
    """Raise :class:`SchemaError` for the first value outside its documented range."""
    for dotted, lo, hi, lo_inc, hi_inc in RANGES:
        val = _get(recipe, dotted)
        if val is None:
            continue
        for v in val if isinstance(val, list) else [val]:
            bad = (lo is not None and (v < lo if lo_inc else v <= lo)) or \
                  (hi is not None and (v > hi if hi_inc else v >= hi))
            if bad:
                if hi is None:
                    span = f"{'>=' if lo_inc else '>'} {lo}"
                else:
                    span = f"in {'[' if lo_inc else '('}{lo}, {hi}{']' if hi_inc else ')'}"
                raise SchemaError(f"{dotted} must be {span}; got {val!r}")
    weights = _get(recipe, "loss.obj_level_weights")
    if weights is not None and not (len(weights) == 3 and all(_is_number(w) and w >= 0
                                                              for w in weights)):
        raise SchemaError(f"loss.obj_level_weights must be 3 numbers >= 0; got {weights!r}")
    if not isinstance(recipe.get("name"), str) or not recipe["name"]:
        raise SchemaError(f"name must be a non-empty string; got {recipe.get('name')!r}")
