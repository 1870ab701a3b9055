"""Pieces of the trainer that need no trainer state: label statistics for anchors and class
weights, parameter groups, the learning-rate schedule, phase-2 freezing and fine-tune starts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mtl_perception.training.engine.checkpoint import (
    CheckpointError,
    deployable_weights,
    load_checkpoint,
)
from mtl_perception.training.model.network import MultiTaskNet

LOG = logging.getLogger("mtl-train")


def _unwrap(ds: Any) -> tuple[Any, list[int] | None]:
    """(underlying dataset, subset indices or None) through torch Subsets."""
    idx: list[int] | None = None
    while isinstance(ds, torch.utils.data.Subset):
        idx = [int(ds.indices[i]) for i in (idx if idx is not None else range(len(ds)))]
        ds = ds.dataset
    return ds, idx


def _label_arrays(ds: Any, need_classes: bool, limit: int = 5000) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Training boxes' (w, h) for k-means and their classes for class-balanced weights.

    Uses the dataset's label index (``box_sizes``/``class_counts``) when it has one, so no
    image is decoded; otherwise reads up to ``limit`` samples.
    """
    base, idx = _unwrap(ds)
    if idx is None and hasattr(base, "box_sizes") and not need_classes:
        return np.asarray(base.box_sizes(), np.float32).reshape(-1, 2), np.zeros(0, np.int64)
    whs, classes = [], []
    for i in range(min(len(ds), limit)):
        s = ds[i]
        b = np.asarray(s["boxes"], np.float32).reshape(-1, 4)
        whs.append(b[:, 2:] - b[:, :2])
        classes.append(np.asarray(s["classes"], np.int64).reshape(-1))
    if not whs:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
    return np.concatenate(whs), np.concatenate(classes)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on BatchNorm, biases and fusion weights (they are not 'weights')."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _lr_lambda(total_steps: int, warmup_steps: int, final: float = 0.01) -> Callable[[int], float]:
    def f(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return final + (1.0 - final) * step / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return f


def freeze_seg_heads(model: MultiTaskNet) -> None:
    """Phase 2: no gradients for the seg decoders and their BatchNorm stats stop moving."""
    for m in model.seg_modules():
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)


def load_init_weights(model: nn.Module, path: str | Path, verbose: bool = True) -> None:
    """Fine-tune start: copy every tensor of a checkpoint's model whose name and shape match.

    The anchors stay this run's own (they scale with the input size); heads whose shape
    differs (another class list) keep their fresh initialization. A checkpoint that shares
    nothing with this model is a mistake, not a fine-tune, so it stops the run.
    """
    source = deployable_weights(load_checkpoint(path, "cpu"))
    target = model.state_dict()
    usable = {k: v for k, v in source.items()
              if k != "anchors" and k in target and target[k].shape == v.shape}
    if not usable:
        raise CheckpointError(f"{path}: no weight matches this recipe's network; "
                              "is it a checkpoint of another backbone?")
    model.load_state_dict(usable, strict=False)
    if verbose:
        skipped = sorted(k for k in target if k not in usable and k != "anchors")
        LOG.info("initialized %d of %d tensors from %s%s", len(usable), len(target) - 1, path,
                 f" (kept fresh: {', '.join(skipped[:6])}{' ...' if len(skipped) > 6 else ''})"
                 if skipped else "")
