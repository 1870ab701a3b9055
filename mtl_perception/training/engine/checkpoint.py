"""Checkpoints: written atomically (temp file + rename), read back with ``weights_only=True``.

A checkpoint holds only tensors, numbers, strings and containers, so the safe loader accepts
it, and it carries the recipe and class names so export can rebuild the model from it alone.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtl_perception.common.atomic_files import atomic_target
from mtl_perception.common.errors import MtlError


class CheckpointError(MtlError, RuntimeError):
    """The checkpoint file is missing or is not one of ours."""


def save_atomic(obj: dict[str, Any], path: str | Path) -> None:
    """Write ``obj`` to ``path`` so a reader never sees a half-written file."""
    with atomic_target(Path(path)) as handle:
        torch.save(obj, handle)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; raise :class:`CheckpointError` with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {_load_failure(exc)}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "recipe" not in ckpt:
        raise CheckpointError(f"{path} is not an mtl_perception checkpoint (no model/recipe)")
    return ckpt


def _load_failure(exc: Exception) -> str:
    """Why torch.load failed, in words about the file (not torch's weights_only advice)."""
    text = str(exc)
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if m:
        return (f"it holds a Python object ({m.group(1)}) that a safe load refuses; "
                "it was not written by mtl-train")
    if isinstance(exc, OSError):
        return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"the file is corrupt, truncated or not a PyTorch checkpoint ({type(exc).__name__})"


def deployable_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to evaluate, export or fine-tune from: the moving average when the run kept
    one (``train.ema_decay``), else the trained weights. ``ckpt["model"]`` stays the raw
    weights, which is what ``--resume`` continues."""
    weights: dict[str, torch.Tensor] = ckpt.get("ema") or ckpt["model"]
    return weights


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states in a weights_only-safe form."""
    np_state = np.random.get_state()
    return {
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_gauss": [int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    has_gauss, gauss = state["numpy_gauss"]
    np.random.set_state(("MT19937", keys, state["numpy_pos"], has_gauss, gauss))
    torch.set_rng_state(state["torch"])
