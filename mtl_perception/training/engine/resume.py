"""Resume rules: which settings a resumed run may change, and which it must keep.

A checkpoint holds the resolved recipe it was trained with (input size, classes, batch size,
learning rate, schedule, seed, ...) and the recipe file's own values (``source_recipe``).
What a resuming command asks for is the checkpoint's recipe, changed where a command-line
option is given or where the recipe file changed since the run started. Of those changes,
the run length, validation cadence, loader workers and evaluation thresholds are applied
(the cosine then runs over the new total from the current step); every other change would
train a different network than the one in the checkpoint and is refused.
"""

from __future__ import annotations

import copy
from typing import Any

from mtl_perception.common.errors import MtlError
from mtl_perception.training.config.recipe import normalize_recipe, with_input_size

APPLIED: tuple[str, ...] = (
    "train.epochs_phase1", "train.epochs_phase2", "train.val_every", "train.workers",
    "eval.conf_threshold", "eval.iou_threshold", "eval.max_detections",
)
# Have no effect once weights exist (the checkpoint's weights replace ImageNet's).
IGNORED: tuple[str, ...] = ("name", "backbone.pretrained")


class ResumeError(MtlError, RuntimeError):
    """A resume that would continue a different run than the checkpoint's (one line)."""


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{dotted key: leaf value}; lists are leaves."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = copy.deepcopy(value)


def apply_flags(recipe: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """``recipe`` with command-line values (dotted keys) set; ``input_size`` scales anchors."""
    out = copy.deepcopy(recipe)
    for key, value in flags.items():
        if key != "input_size":
            set_dotted(out, key, value)
    out = normalize_recipe(out)
    if "input_size" in flags and list(flags["input_size"]) != out["input_size"]:
        out = with_input_size(out, tuple(flags["input_size"]))
    return out


def asked_recipe(ckpt: dict[str, Any], file_recipe: dict[str, Any],
                 flags: dict[str, Any]) -> dict[str, Any]:
    """What a resuming command asks for: the checkpoint's settings, changed by the recipe file
    where the file differs from the one the run started with, then by the options given."""
    base = normalize_recipe(ckpt["recipe"])
    then = flatten(normalize_recipe(ckpt.get("source_recipe") or file_recipe))
    for key, value in flatten(file_recipe).items():
        if key not in IGNORED and then.get(key) != value:
            set_dotted(base, key, value)
    return apply_flags(base, flags)


def reconcile(ckpt: dict[str, Any], asked: dict[str, Any], where: str = "checkpoint"
              ) -> tuple[dict[str, Any], list[str]]:
    """(the recipe to continue with, 'key: old -> new' for each applied change).

    Raises :class:`ResumeError` naming every refused change.
    """
    old_recipe = normalize_recipe(ckpt["recipe"])
    old, new = flatten(old_recipe), flatten(normalize_recipe(asked))
    if old_recipe["anchor_kmeans"] and new.get("anchor_kmeans"):
        new["anchors"] = old["anchors"]  # the fitted anchors are the run's own
    diffs = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
             if old.get(k) != new.get(k) and k not in IGNORED}
    refused = {k: v for k, v in diffs.items() if k not in APPLIED}
    if refused:
        what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in refused.items())
        raise ResumeError(
            f"cannot resume {where} with changed {what}: the checkpoint was trained with the "
            "old values; drop these changes, or start a new run (a new --out, or "
            "--init-weights to fine-tune from it)")
    done = int(ckpt["epoch"])
    e1_old, e1_new = int(old["train.epochs_phase1"]), int(new["train.epochs_phase1"])
    if min(done, e1_old) != min(done, e1_new):
        raise ResumeError(
            f"cannot resume {where} with train.epochs_phase1 {e1_old} -> {e1_new}: "
            f"{done} epochs are done and {min(done, e1_old)} of them were phase 1")
    total = e1_new + int(new["train.epochs_phase2"])
    if total < done:
        raise ResumeError(f"cannot resume {where} with {total} epochs in all: it has already "
                          f"trained {done}")
    recipe = copy.deepcopy(old_recipe)
    for key in diffs:
        set_dotted(recipe, key, new[key])
    return normalize_recipe(recipe), [f"{k} {a!r} -> {b!r}" for k, (a, b) in diffs.items()]
