"""Run directories: one run per folder, and the resolved recipe (seed included) beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mtl_perception.common.errors import MtlError

# What a run writes; a fresh run refuses a folder holding any of these (unless --overwrite).
RUN_FILES: tuple[str, ...] = (
    "last.pt", "best.pt", "log.csv", "curves.png", "recipe.yaml", "data_report.txt",
    "data_report.json",
)


class RunDirError(MtlError, RuntimeError):
    """A fresh run would mix its files with another run's (one line)."""


def prepare_run_dir(out: Path, resuming: bool, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, clear) a folder holding another run's files."""
    if resuming:
        return
    found = [name for name in RUN_FILES if (out / name).exists()]
    if not found:
        return
    if not overwrite:
        raise RunDirError(
            f"{out} already holds a run ({', '.join(found)}); continue it with --resume auto, "
            "choose another --out, or pass --overwrite to replace it")
    for name in found:
        (out / name).unlink()


def write_run_recipe(out: Path, recipe: dict[str, Any]) -> Path:
    """``out/recipe.yaml``: the recipe this run trains, every default filled in (seed,
    fitted anchors, command-line values); ``mtl-train --config`` accepts it as it is."""
    path = out / "recipe.yaml"
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text("# resolved by mtl-train: every value this run uses\n"
                   + yaml.safe_dump(recipe, sort_keys=False, default_flow_style=None))
    tmp.replace(path)
    return path
