"""``BddDataset``: BDD100K's official layout (real or from ``mtl-synth``) as letterboxed samples.

A frame whose drivable mask or lane labels are missing still yields its other targets: the
absent target is all ``IGNORE_INDEX`` (255) and ``has_drivable``/``has_lane`` is False, so the loss
can skip it. Real BDD100K needs this: not every image has every label.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mtl_perception.common.constants import IGNORE_INDEX
from mtl_perception.inference.letterbox import Letterbox
from mtl_perception.io.bdd_labels import (
    LabelStats,
    load_label_list,
    parse_det_frame,
    parse_lane_frame,
    remap_drivable,
    resolve_classes,
)
from mtl_perception.io.lanes import rasterize_lanes, scaled_lane_width
from mtl_perception.training.data.augment import Augment, AugmentConfig

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LOG = logging.getLogger("mtl-data")


def bdd_paths(root: str | Path, split: str) -> dict[str, Path]:
    """Where the official layout keeps each part of ``split``."""
    root = Path(root)
    return {
        "images": root / "images" / "100k" / split,
        "det": root / "labels" / "det_20" / f"det_{split}.json",
        "drivable": root / "labels" / "drivable" / "masks" / split,
        "lane": root / "labels" / "lane" / "polygons" / f"lane_{split}.json",
    }


class BddDataset(Dataset):
    """Letterboxed, optionally augmented samples (see docs/architecture.md for the dict)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        input_size: tuple[int, int] = (384, 640),
        classes: str | Sequence[str] = "bdd",
        drivable_classes: int = 3,
        lane_width_px: float = 8.0,
        augment: bool | Augment | AugmentConfig = False,
        lane_directions: Sequence[str] = ("parallel", "vertical"),
        max_items: int | None = None,
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.class_names, self._category_index = resolve_classes(classes)
        self.drivable_classes = drivable_classes
        self.lane_width_px = float(lane_width_px)
        if augment is True:
            augment = Augment()
        elif isinstance(augment, AugmentConfig):
            augment = Augment(augment)
        self.augment: Augment | None = augment or None
        self.seed = seed
        self._epoch = 0
        self.paths = bdd_paths(root, split)
        if not self.paths["images"].is_dir():
            raise FileNotFoundError(f"no image folder {self.paths['images']} (BDD100K layout)")
        names = sorted(p.name for p in self.paths["images"].iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        if max_items is not None:
            names = names[:max_items]
        self.names = names
        self.stats = LabelStats()
        det = load_label_list(self.paths["det"], self.stats)
        lane = load_label_list(self.paths["lane"], self.stats)
        # Frame names in the detection JSON (the data report compares them with the images).
        self.det_label_names: list[str] = list(det) if det is not None else []
        if det is not None and max_items is None:
            present = set(names)
            self.stats.missing_images = sum(n not in present for n in det)
        # Parsed once: label files are small next to images, and parsing counts the bad labels.
        self._det: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [
            parse_det_frame(det[n], self._category_index, self.stats)
            if det is not None and n in det else None for n in names
        ]
        self._lanes: list[list[np.ndarray] | None] = [
            parse_lane_frame(lane[n], self.stats, lane_directions)
            if lane is not None and n in lane else None for n in names
        ]
        if self.stats.any():
            LOG.warning("data %s, split %s: skipped %s", self.root, split, self.stats.summary())

    def __len__(self) -> int:
        return len(self.names)

    def set_epoch(self, epoch: int) -> None:
        """Vary augmentation per epoch while staying reproducible (seed, epoch, index)."""
        self._epoch = int(epoch)

    def box_sizes(self) -> np.ndarray:
        """Widths/heights [N, 2] of all boxes in network pixels (for anchor k-means).

        Assumes every image has the size of the first one (true for BDD100K and mtl-synth).
        """
        if not self.names:
            return np.zeros((0, 2), np.float32)
        img = cv2.imread(str(self.paths["images"] / self.names[0]), cv2.IMREAD_GRAYSCALE)
        src_hw = img.shape[:2] if img is not None else (720, 1280)
        lb = Letterbox.fit(src_hw, self.input_size)
        boxes = [d[0] for d in self._det if d is not None and len(d[0])]
        if not boxes:
            return np.zeros((0, 2), np.float32)
        b = np.concatenate(boxes) * lb.scale
        return np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1).astype(np.float32)

    def _read_drivable(self, name: str, src_hw: tuple[int, int]) -> np.ndarray | None:
        path = self.paths["drivable"] / (Path(name).stem + ".png")
        if not path.is_file():
            return None
        png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if png is None or png.ndim != 2:
            return None  # unreadable or a colour map, not an id map
        if png.shape != src_hw:
            png = cv2.resize(png, src_hw[::-1], interpolation=cv2.INTER_NEAREST)
        return remap_drivable(png, 3)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.names[index]
        bgr = cv2.imread(str(self.paths["images"] / name), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"cannot read image {self.paths['images'] / name}")
        src_hw = bgr.shape[:2]
        size = self.input_size
        lb = Letterbox.fit(src_hw, size)
        image = lb.apply(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
        det = self._det[index]
        boxes = lb.boxes_to_network(det[0]) if det is not None else np.zeros((0, 4), np.float32)
        classes = det[1] if det is not None else np.zeros(0, np.int64)
        crowd = det[2] if det is not None else np.zeros(0, bool)
        drv_src = self._read_drivable(name, src_hw)
        drivable_bdd = (lb.apply(drv_src, size, pad_value=0, interpolation=cv2.INTER_NEAREST)
                        if drv_src is not None else None)
        drivable = drivable_bdd
        if drivable_bdd is not None and self.drivable_classes == 2:
            drivable = np.where(drivable_bdd == 2, 1, drivable_bdd).astype(np.uint8)
        polys = self._lanes[index]
        sample: dict[str, Any] = {
            "image": image,
            "boxes": boxes.astype(np.float32),
            "classes": classes.astype(np.int64),
            "drivable": drivable if drivable is not None else np.zeros(size, np.uint8),
            "lane_polylines": [p * lb.scale + np.float32([lb.offset_x, lb.offset_y])
                               for p in (polys or [])],
            "lane_width": scaled_lane_width(self.lane_width_px, src_hw[1]) * lb.scale,
        }
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self._epoch, index])
            sample = self.augment(sample, rng)
        else:  # evaluation: BDD's 3 classes and crowd flags, whatever the model trains on
            sample["drivable_bdd"] = (drivable_bdd if drivable_bdd is not None
                                      else np.full(size, IGNORE_INDEX, np.uint8))
            sample["crowd"] = crowd
        lane = rasterize_lanes(sample.pop("lane_polylines"), size, sample.pop("lane_width"))
        if polys is None:
            lane[:] = IGNORE_INDEX
        if drivable is None:
            sample["drivable"][:] = IGNORE_INDEX
        sample.update(
            lane=lane,
            name=name,
            has_det=det is not None,
            has_drivable=drivable is not None,
            has_lane=polys is not None,
            source_hw=tuple(src_hw),
        )
        return sample


class BDDDataset(BddDataset):
    """``BddDataset`` configured from a training recipe dict (what ``training/dataio`` calls).

    Recipe keys used: ``input_size``, ``classes``, ``drivable_classes``, and optionally
    ``lane_width_px`` (default 8) and ``augment`` (a dict of ``AugmentConfig`` fields).
    """

    def __init__(self, root: str | Path, split: str, recipe: dict[str, Any],
                 augment: bool = False, **kwargs: Any) -> None:
        aug: bool | AugmentConfig = False
        if augment:
            aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in (recipe.get("augment") or {}).items()})
        super().__init__(
            root,
            split,
            input_size=tuple(recipe["input_size"]),  # type: ignore[arg-type]
            classes=recipe.get("classes", "bdd"),
            drivable_classes=int(recipe.get("drivable_classes", 3)),
            lane_width_px=float(recipe.get("lane_width_px", 8.0)),
            augment=aug,
            **kwargs,
        )


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples: images uint8 [B, H, W, 3], masks int64 [B, H, W], boxes a list."""
    return {
        "image": torch.from_numpy(np.stack([s["image"] for s in batch])),
        "drivable": torch.from_numpy(np.stack([s["drivable"] for s in batch])).long(),
        "lane": torch.from_numpy(np.stack([s["lane"] for s in batch])).long(),
        "boxes": [torch.from_numpy(s["boxes"]) for s in batch],
        "classes": [torch.from_numpy(s["classes"]) for s in batch],
        "name": [s["name"] for s in batch],
        "has_det": torch.tensor([s.get("has_det", True) for s in batch]),
        "has_drivable": torch.tensor([s.get("has_drivable", True) for s in batch]),
        "has_lane": torch.tensor([s.get("has_lane", True) for s in batch]),
        "source_hw": [s.get("source_hw") for s in batch],
        **({"drivable_bdd": torch.from_numpy(np.stack([s["drivable_bdd"] for s in batch])).long(),
            "crowd": [torch.from_numpy(s["crowd"]) for s in batch]}
           if all("drivable_bdd" in s for s in batch) else {}),
    }
