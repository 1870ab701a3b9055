#!/usr/bin/env python3
"""Merge BDD-layout dataset roots into one training split (how the demo model's data was built).

The demo model trains on still scenes plus a few synthetic drives, because drives (ego-lane
traffic receding into the distance) look different from independent stills. mtl-train reads one
root, so this writes one: images and drivable masks are hard-linked (copied across devices),
det_20 and lane JSON lists are concatenated. The val split is taken from the first root.

    merge_bdd_roots.py OUT ROOT[:N] [ROOT[:N] ...]     # N = take the first N train frames
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

DIRS = ("images/100k/{s}", "labels/drivable/masks/{s}")


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _frames(root: Path, split: str, limit: int | None) -> tuple[list, list]:
    det = json.loads((root / f"labels/det_20/det_{split}.json").read_text())[:limit]
    lanes = {f["name"]: f for f in json.loads(
        (root / f"labels/lane/polygons/lane_{split}.json").read_text())}
    return det, [lanes[f["name"]] for f in det if f["name"] in lanes]


def merge(out: Path, sources: list[tuple[Path, int | None]]) -> int:
    for split in ("train", "val"):
        for d in DIRS:
            (out / d.format(s=split)).mkdir(parents=True, exist_ok=True)
    (out / "labels/det_20").mkdir(parents=True, exist_ok=True)
    (out / "labels/lane/polygons").mkdir(parents=True, exist_ok=True)
    plan = [("train", root, limit) for root, limit in sources] + [("val", sources[0][0], None)]
    merged: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], [])}
    for split, root, limit in plan:
        det, lanes = _frames(root, split, limit)
        merged[split][0].extend(det)
        merged[split][1].extend(lanes)
        for frame in det:
            name = frame["name"]
            _link(root / f"images/100k/{split}" / name, out / f"images/100k/{split}" / name)
            mask = Path(name).with_suffix(".png").name
            src = root / f"labels/drivable/masks/{split}" / mask
            if src.is_file():
                _link(src, out / f"labels/drivable/masks/{split}" / mask)
    for split, (det, lanes) in merged.items():
        (out / f"labels/det_20/det_{split}.json").write_text(json.dumps(det))
        (out / f"labels/lane/polygons/lane_{split}.json").write_text(json.dumps(lanes))
    return len(merged["train"][0])


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    sources = []
    for arg in argv[1:]:
        path, _, n = arg.partition(":")
        sources.append((Path(path), int(n) if n else None))
    print(f"merged {merge(Path(argv[0]), sources)} train frames into {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
