"""``mtl-eval predictions``: score saved predictions against BDD100K ground truth.

    mtl-eval predictions --data BDD_ROOT --split val --offline OUT_DIR
    mtl-eval predictions --data BDD_ROOT --masks MASK_DIR --detections det.json [--out m.json]

Why: any model's outputs (ours through mtl-offline, or a peer's) get every protocol's numbers
in one report, computed by :mod:`mtl_perception.evaluation` exactly as for a checkpoint.
Input formats (docs/training.md "Scoring saved predictions"):

* ``--detections``: a BDD100K/scalabel frame list (``name``, ``labels`` with ``category``,
  ``box2d`` and ``score``), in source pixels; categories are BDD's 10 or ``vehicle``;
* ``--masks``: ``drivable/<stem>.png`` and/or ``lane/<stem>.png``, one channel, the size of
  the label; drivable in our ids (0 background, 1 direct, 2 alternative; a 2-class model
  writes 0/1) or BDD's (``--drivable-ids bdd``: 0 direct, 1 alternative, 2 background), lane
  nonzero = lane;
* ``--offline``: mtl-offline's output folder (its ``predictions.json`` and ``masks/``).

Bad input is one line (exit 2) or a counted skip in the report; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtl_perception.common.classes import BDD_CLASSES, VEHICLE
from mtl_perception.common.cli_args import ArgumentParser
from mtl_perception.common.errors import MtlError
from mtl_perception.common.types import BoxLabel
from mtl_perception.evaluation.evaluator import Evaluator, format_headline
from mtl_perception.evaluation.groundtruth import GroundTruth
from mtl_perception.io import bdd_json as bddjson
from mtl_perception.io.bdd_labels import remap_drivable

KNOWN_CATEGORIES = (*BDD_CLASSES, VEHICLE)


class InputError(MtlError):
    """A problem with the user's input: reported as one line."""


def _read_detections(path: Path, skips: dict[str, Any]) -> dict[str, list[BoxLabel]]:
    if not path.is_file():
        raise InputError(f"--detections {path}: no such file")
    try:
        frames = bddjson.load_labels(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"--detections {path}: not a BDD/scalabel frame list ({exc})") from exc
    unknown: dict[str, int] = {}
    for name, boxes in frames.items():
        keep = [b for b in boxes if b.label in KNOWN_CATEGORIES]
        for b in boxes:
            if b.label not in KNOWN_CATEGORIES:
                unknown[b.label] = unknown.get(b.label, 0) + 1
        frames[name] = keep
    if unknown:
        skips["unknown_categories"] = unknown
    return frames


def _mask_files(folder: Path | None) -> dict[str, Path]:
    if folder is None or not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.png"))}


def _expected_hw(root: Path, split: str, truth: GroundTruth, stem: str) -> tuple[int, int] | None:
    """The size a prediction for ``stem`` must have: its drivable label's, else its image's."""
    hw = truth.label_size(stem + ".jpg")
    if hw is not None:
        return hw
    image = root / "images" / "100k" / split / f"{stem}.jpg"
    img = cv2.imread(str(image), cv2.IMREAD_UNCHANGED) if image.is_file() else None
    return None if img is None else img.shape[:2]


def score(root: Path, split: str, detections: Path | None, masks: Path | None,
          drivable_ids: str = "ours", drivable_classes: int = 3) -> dict[str, Any]:
    """Every protocol on the saved predictions; ``skips`` counts what could not be scored."""
    try:
        truth = GroundTruth.from_bdd_root(root, split)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise InputError(str(exc)) from exc
    skips: dict[str, Any] = {}
    dets = _read_detections(detections, skips) if detections is not None else {}
    drv_files = _mask_files(masks / "drivable" if masks else None)
    lane_files = _mask_files(masks / "lane" if masks else None)
    if not dets and not drv_files and not lane_files:
        raise InputError("no predictions to score (empty detections and no mask PNGs under "
                         f"{masks}/drivable or {masks}/lane)")
    classes = [c for c in KNOWN_CATEGORIES
               if any(b.label == c for boxes in dets.values() for b in boxes)] or ["car"]
    ev = Evaluator(classes, drivable_classes)
    if detections is not None:
        # A tracking frame answers to two names (bddjson); each labelled frame counts once.
        groups: dict[int, list[str]] = {}
        for name, boxes in truth.boxes.items():
            groups.setdefault(id(boxes), []).append(name)
        missing = 0
        for aliases in groups.values():
            name = next((n for n in aliases if n in dets), aliases[0])
            if name not in dets:
                missing += 1  # scored as an empty prediction, as the official toolkit does
            boxes = truth.boxes[name]
            ev.add_boxes(boxes, [b.crowd for b in boxes], dets.get(name, []))
        extra = len(set(dets) - set(truth.boxes))
        if missing:
            skips["frames_without_detections"] = missing
        if extra:
            skips["detection_frames_without_labels"] = extra
    for task, files in (("drivable", drv_files), ("lane", lane_files)):
        for stem, path in files.items():
            mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            hw = _expected_hw(root, split, truth, stem)
            reason = None
            if mask is None or mask.ndim != 2:
                reason = "unreadable_or_not_one_channel"
            elif hw is None:
                reason = "no_label"
            elif mask.shape != hw:
                reason = "wrong_size"
            frame = truth.frame(stem + ".jpg", hw) if reason is None and hw else None
            gt = getattr(frame, task, None)
            if reason is None and gt is None:
                reason = "no_label"
            if reason is not None:
                key = f"{task}_{reason}"
                skips[key] = skips.get(key, 0) + 1
                continue
            if task == "drivable":
                pred = remap_drivable(mask) if drivable_ids == "bdd" else mask
                ev.add_drivable(pred, gt)
            else:
                ev.add_lane((mask > 0).astype(np.uint8), gt)
    if not any(ev.frames.values()):
        raise InputError(f"none of the predictions matched a labelled frame of {root} "
                         f"split {split!r} (skipped: {skips})")
    result = ev.result({"source": "saved predictions (mtl-eval predictions)",
                        "detections": str(detections) if detections else None,
                        "masks": str(masks) if masks else None, "drivable_ids": drivable_ids})
    result["skipped"] = skips
    return result


def build_parser() -> argparse.ArgumentParser:
    return add_arguments(ArgumentParser(prog="mtl-eval predictions", **PARSER_TEXT))


PARSER_TEXT: dict[str, Any] = {
    "description": __doc__.split("\n")[0],
    "formatter_class": argparse.RawDescriptionHelpFormatter,
    "epilog": "\n".join(__doc__.split("\n")[2:]),
}


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``mtl-eval predictions``' options (also its subcommand parser in ``mtl-eval``)."""
    p.add_argument("--data", type=Path, required=True, help="BDD100K root (official layout)")
    p.add_argument("--split", default="val")
    p.add_argument("--detections", type=Path, help="BDD/scalabel detections JSON")
    p.add_argument("--masks", type=Path, help="folder with drivable/ and/or lane/ PNGs")
    p.add_argument("--offline", type=Path, help="mtl-offline's output folder")
    p.add_argument("--drivable-ids", choices=("ours", "bdd"), default="ours")
    p.add_argument("--drivable-classes", type=int, choices=(2, 3), default=3,
                   help="classes the drivable PNGs use (2: 0 background / 1 drivable)")
    p.add_argument("--out", type=Path, help="write the full report (JSON) here")
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    detections, masks = args.detections, args.masks
    if args.offline is not None:
        if not args.offline.is_dir():
            print(f"mtl-eval predictions: --offline {args.offline}: no such folder",
                  file=sys.stderr)
            return 2
        detections = detections or (args.offline / "predictions.json"
                                    if (args.offline / "predictions.json").is_file() else None)
        masks = masks or (args.offline / "masks" if (args.offline / "masks").is_dir() else None)
    if masks is not None and not masks.is_dir():
        print(f"mtl-eval predictions: --masks {masks}: no such folder", file=sys.stderr)
        return 2
    if detections is None and masks is None:
        print("mtl-eval predictions: give --detections, --masks or --offline", file=sys.stderr)
        return 2
    try:
        result = score(args.data, args.split, detections, masks, args.drivable_ids,
                       args.drivable_classes)
    except InputError as exc:
        print(f"mtl-eval predictions: {exc}", file=sys.stderr)
        return 1
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result) if args.out is None else f"wrote {args.out}")
    print(f"frames scored {result['n_frames']}; {format_headline(result)}")
    if result["skipped"]:
        print(f"skipped: {json.dumps(result['skipped'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
