"""Thin adapter from the trainer/evaluator to the dataset package (``training/data``).

The dataset item and ``collate`` are the contract in docs/architecture.md; this module only
builds loaders (sampler, workers, seeding) and turns a missing/bad data dir into one line.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from mtl_perception.common.errors import MtlError


class DataError(MtlError, RuntimeError):
    """The data directory is missing or unreadable."""


def collate_samples(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Contract collate: images uint8 [B, H, W, 3], masks [B, H, W], boxes/classes as lists."""
    data = _data_module()
    if data is not None and hasattr(data, "collate"):
        return data.collate(samples)
    return {
        "image": torch.from_numpy(np.stack([s["image"] for s in samples])),
        "drivable": torch.from_numpy(np.stack([s["drivable"] for s in samples])),
        "lane": torch.from_numpy(np.stack([s["lane"] for s in samples])),
        "boxes": [torch.as_tensor(s["boxes"], dtype=torch.float32) for s in samples],
        "classes": [torch.as_tensor(s["classes"], dtype=torch.int64) for s in samples],
        "name": [s.get("name", "") for s in samples],
    }


def _data_module() -> Any | None:
    try:
        return importlib.import_module("mtl_perception.training.data")
    except ModuleNotFoundError:
        return None


def open_dataset(data_dir: str | Path, split: str, recipe: dict[str, Any], train: bool) -> Dataset:
    """The BDD-layout dataset for ``split`` with the recipe's classes, size and augmentation."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory not found: {data_dir}")
    data = _data_module()
    if data is None or not hasattr(data, "BDDDataset"):
        raise DataError("the BDD dataset loader (mtl_perception.training.data) is not installed")
    try:
        return data.BDDDataset(data_dir, split, recipe, augment=train)
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(str(exc).splitlines()[0]) from exc


def make_loader(
    data: str | Path | Dataset,
    split: str,
    recipe: dict[str, Any],
    train: bool,
    batch_size: int,
    workers: int = 2,
    limit: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader; training loaders use a DistributedSampler (also with one process) so
    shuffling depends only on (seed, epoch) and a resumed run sees the same order."""
    # Anything indexable with a length works (a Dataset, a list of samples in tests).
    ds = open_dataset(data, split, recipe, train) if isinstance(data, str | Path) else data
    if limit is not None:
        ds = Subset(ds, range(min(limit, len(ds))))
    if len(ds) == 0:
        raise DataError(f"split {split!r} has no usable images")
    sampler = None
    if train:
        sampler = DistributedSampler(
            ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
        )
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_samples,
        persistent_workers=False,
        drop_last=False,
    )
