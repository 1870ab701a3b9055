"""The demo model: --model, else the committed one, else trained with the repo's recipe and cached.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mtl_perception.common.package_data import data_path, optional_data_path
from mtl_perception.devtools.demo.stages import DEMO_RECIPE, DemoContext


def code_hash() -> str:
    """Hash of everything that shapes a trained demo model: training code and generator."""
    h = hashlib.sha256()
    pkg = Path(str(importlib.resources.files("mtl_perception.training")))
    for path in sorted(pkg.rglob("*.py")):
        h.update(path.relative_to(pkg).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TrainPlan:
    """The demo's training recipe: stills from mtl-synth, then mtl-train, then mtl-export."""

    recipe: Path
    seed: int
    n_train: int
    n_val: int
    width: int
    height: int
    epochs_phase1: int
    epochs_phase2: int

    def key(self) -> str:
        h = hashlib.sha256()
        h.update(self.recipe.read_bytes())
        h.update(json.dumps([self.seed, self.n_train, self.n_val, self.width, self.height,
                             self.epochs_phase1, self.epochs_phase2]).encode())
        h.update(code_hash().encode())
        return h.hexdigest()[:20]

    def commands(self, data: Path, run: Path, onnx: Path) -> list[list[str]]:
        return [
            ["mtl-synth", "--out", str(data), "--train", str(self.n_train), "--val",
             str(self.n_val), "--seed", str(self.seed), "--size", f"{self.height}x{self.width}",
             "--workers", "2"],
            ["mtl-train", "--config", str(self.recipe), "--data", str(data), "--out", str(run),
             "--epochs-phase1", str(self.epochs_phase1), "--epochs-phase2",
             str(self.epochs_phase2), "--val-every", str(self.epochs_phase1 + self.epochs_phase2),
             "--limit-val", str(self.n_val), "--no-pretrained"],
            ["mtl-export", "--weights", str(run / "best.pt"), "--out", str(onnx)],
        ]


def train_plan(args: argparse.Namespace) -> TrainPlan:
    recipe = Path(args.recipe) if args.recipe else data_path(*DEMO_RECIPE)
    return TrainPlan(recipe, args.train_seed, args.train_images, 64, 640, 360,
                     args.epochs_phase1, args.epochs_phase2)


def obtain_model(ctx: DemoContext) -> Path:
    a = ctx.args
    if a.model is not None:
        if not Path(a.model).is_file():
            raise FileNotFoundError(f"--model {a.model} does not exist")
        ctx.info["model"] = {"source": "--model", "path": str(a.model)}
        return Path(a.model)
    committed = optional_data_path("models", "demo", "model.onnx")
    if committed is not None and not a.train:
        ctx.info["model"] = {"source": "committed (models/demo/README.md has its provenance)",
                             "path": str(committed)}
        return committed
    plan = train_plan(a)
    cached = Path(a.cache_dir).expanduser() / "demo-model" / plan.key() / "model.onnx"
    ctx.info["model"] = {"source": "trained by the demo with the repo's recipe",
                         "path": str(cached), "cache_key": plan.key(),
                         "commands": [" ".join(c) for c in plan.commands(
                             Path("DATA"), Path("RUN"), Path("model.onnx"))]}
    if cached.is_file():
        ctx.info["model"]["source"] += " (cached)"
        return cached
    work = cached.parent / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    bindir = Path(sys.executable).parent
    for cmd in plan.commands(work / "data", work / "run", work / "model.onnx"):
        exe = shutil.which(cmd[0]) or str(bindir / cmd[0])
        ctx.log(" ".join(cmd))
        rc = subprocess.run([exe, *cmd[1:]]).returncode
        if rc != 0:
            raise RuntimeError(f"{cmd[0]} exited with {rc}")
    (work / "model.onnx").replace(cached)
    for name in ("metrics.csv", "best.pt"):
        src = work / "run" / name
        if src.exists():
            shutil.copy2(src, cached.parent / name)
    shutil.rmtree(work / "data", ignore_errors=True)
    return cached


def model_classes(model: Path) -> tuple[tuple[str, ...], int]:
    from mtl_perception.inference.backends import load_backend

    backend = load_backend(model, "onnxruntime")
    try:
        return backend.spec.detection_classes, len(backend.spec.drivable_classes)
    finally:
        backend.close()


