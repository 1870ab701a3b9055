"""The data report ``mtl-train`` prints at start and writes to the run directory.

Per split: images found, labelled frames per task, frames without each label, missing label
files and images, malformed labels, unknown categories and aliases applied. Two findings stop
a run before it trains on nothing: label names that match the images only by stem (``.jpg``
in the JSON, ``.png`` on disk), and a task the recipe trains with no label in the split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtl_perception.training.data.loaders import DataError

FIRST = 3  # names shown per list


def _first(names: list[str]) -> str:
    return ", ".join(names[:FIRST]) + (" ..." if len(names) > FIRST else "")


def _base(ds: Any) -> Any:
    import torch

    while isinstance(ds, torch.utils.data.Subset):
        ds = ds.dataset
    return ds


def split_report(ds: Any) -> dict[str, Any] | None:
    """What a ``BddDataset`` found on disk (None for other datasets, e.g. sample lists)."""
    ds = _base(ds)
    if not hasattr(ds, "paths") or not hasattr(ds, "_det"):
        return None
    names: list[str] = list(ds.names)
    paths: dict[str, Path] = ds.paths
    drv_dir = paths["drivable"]
    masks = {p.stem for p in drv_dir.iterdir() if p.suffix == ".png"} if drv_dir.is_dir() \
        else set()
    no_det = [n for n, d in zip(names, ds._det, strict=True) if d is None]
    no_lane = [n for n, d in zip(names, ds._lanes, strict=True) if d is None]
    no_drv = [n for n in names if Path(n).stem not in masks]
    stats = ds.stats
    det_names = list(getattr(ds, "det_label_names", []))
    missing_images = sorted(set(det_names) - set(names))
    return {
        "split": ds.split,
        "images": len(names),
        "image_dir": str(paths["images"]),
        "suffixes": sorted({Path(n).suffix.lower() for n in names}),
        "labelled": {"detection": len(names) - len(no_det), "drivable": len(names) - len(no_drv),
                     "lane": len(names) - len(no_lane)},
        "without": {"detection": no_det, "drivable": no_drv, "lane": no_lane},
        "label_paths": {"detection": str(paths["det"]), "drivable": str(drv_dir),
                        "lane": str(paths["lane"])},
        "boxes": int(sum(len(d[0]) for d in ds._det if d is not None)),
        "missing_label_files": list(stats.missing_files),
        "missing_images": missing_images,
        "malformed": {"frames": stats.malformed_frames, "boxes": stats.malformed_boxes,
                      "lanes": stats.malformed_lanes},
        "unknown_categories": dict(stats.unknown_categories),
        "aliases": dict(getattr(stats, "aliases", {})),
    }


def format_report(data_dir: str | Path, reports: list[dict[str, Any]]) -> str:
    lines = [f"data report for {data_dir}"]
    for r in reports:
        n = r["images"]
        lines.append(f"  {r['split']}: {n} images ({', '.join(r['suffixes']) or 'none'}) in "
                     f"{r['image_dir']}; {r['boxes']} boxes")
        for task in ("detection", "drivable", "lane"):
            without = r["without"][task]
            lines.append(f"    {task}: {r['labelled'][task]} labelled, {len(without)} without"
                         + (f" ({_first(without)})" if without else "")
                         + f" [{r['label_paths'][task]}]")
        if r["missing_label_files"]:
            lines.append(f"    missing label files: {_first(r['missing_label_files'])}")
        if r["missing_images"]:
            lines.append(f"    labelled frames whose image is missing: "
                         f"{len(r['missing_images'])} ({_first(r['missing_images'])})")
        bad = {k: v for k, v in r["malformed"].items() if v}
        if bad:
            lines.append("    malformed labels skipped: "
                         + ", ".join(f"{v} {k}" for k, v in bad.items()))
        if r["unknown_categories"]:
            lines.append(f"    unknown categories dropped: {r['unknown_categories']}")
        if r["aliases"]:
            lines.append(f"    category aliases applied: {r['aliases']}")
    return "\n".join(lines)


def check_report(report: dict[str, Any], tasks: list[str]) -> None:
    """Raise :class:`DataError` (one line) when the split cannot train ``tasks``."""
    if report["images"] == 0:
        raise DataError(f"split {report['split']!r} has no images in {report['image_dir']}")
    stem = {Path(n).stem: n for n in report["missing_images"]}
    images_by_stem = {Path(n).stem for n in report["without"]["detection"]}
    renamed = [n for s, n in stem.items() if s in images_by_stem]
    if renamed and report["labelled"]["detection"] == 0:
        sample = renamed[0]
        on_disk = next(n for n in report["without"]["detection"]
                       if Path(n).stem == Path(sample).stem)
        raise DataError(
            f"split {report['split']!r}: the detection labels name {sample} but the image is "
            f"{on_disk} ({len(renamed)} such frames): label names must match the image files "
            f"in {report['image_dir']} (convert the images or fix the names in "
            f"{report['label_paths']['detection']})")
    for task in tasks:
        if report["labelled"][task] == 0:
            raise DataError(
                f"the recipe trains {task} but no {report['split']} image has {task} labels "
                f"(looked in {report['label_paths'][task]}); remove it from the recipe's "
                "tasks or add the labels")


def report_data(data_dir: str | Path, datasets: list[Any], tasks: list[str],
                out_dir: Path | None) -> str | None:
    """Build, check (the first dataset, the training split) and write the report."""
    reports = [r for r in (split_report(ds) for ds in datasets) if r is not None]
    if not reports:
        return None
    text = format_report(data_dir, reports)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "data_report.txt").write_text(text + "\n")
        short = [{**r, "without": {k: {"count": len(v), "first": v[:20]}
                                   for k, v in r["without"].items()},
                  "missing_images": {"count": len(r["missing_images"]),
                                     "first": r["missing_images"][:20]}} for r in reports]
        (out_dir / "data_report.json").write_text(json.dumps(short, indent=1))
    check_report(reports[0], tasks)
    return text
