"""What each change from the paper's MobileNetV2 recipe to the deployment recipe costs or saves.

    .venv/bin/python scripts/recipe_ablation.py [--resolution 384x640] [--iters 20]

Starts from config/models/mobilenetv2_bifpn.yaml and applies the deployment recipe's changes
one at a time, in order, each on top of the ones before (the last row is
config/models/mobilenetv2_bifpn_fast.yaml without its k-means anchors, which change no
shape). For every row it prints parameters, GFLOPs (2 x multiply-adds) and the ONNX Runtime
CPU p50 of the node's exported graph, all rows timed interleaved in one process, as a ratio
to the first row; with --train-steps N also the median seconds of N training steps (batch 8
at 256x448, forward + backward + AdamW step), again as a ratio. Random weights: speed does
not depend on them. docs/experiments/deployment-recipe.md holds a run of it.
"""

from __future__ import annotations

import copy
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mtl_perception.common.cli_args import ArgumentParser, add_size, positive_int, run_cli
from mtl_perception.deploy.export import export_model
from mtl_perception.deploy.latency import time_backends
from mtl_perception.training.config.recipe import load_recipe, normalize_recipe, with_input_size
from mtl_perception.training.engine.evaluate import model_stats
from mtl_perception.training.model.network import build_model

CONFIGS = Path(__file__).resolve().parents[1] / "config" / "models"

# (row label, the recipe keys it changes), applied cumulatively.
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("paper recipe (mobilenetv2_bifpn)", {}),
    ("+ separable fusion convs", {"neck": {"separable": True}}),
    ("+ neck 128 channels (160)", {"neck": {"channels": 128}}),
    ("+ separable detection tower", {"det_head": {"separable": True}}),
    ("+ masks at stride 4 (2)", {"seg_head": {"output_stride": 4}}),
    ("+ one shared mask decoder", {"seg_head": {"shared": True}}),
    ("+ separable mask decoder = fast", {"seg_head": {"separable": True}}),
]
# Cheaper still, measured and not taken (docs/experiments/deployment-recipe.md says why).
NOT_TAKEN: list[tuple[str, dict[str, Any]]] = [
    ("fast, 2 BiFPN repeats (3)", {"neck": {"repeats": 2}}),
    ("fast, neck 96 channels", {"neck": {"channels": 96}}),
    ("fast, 1 detection conv (2)", {"det_head": {"convs": 1}}),
    ("fast, masks at stride 2", {"seg_head": {"output_stride": 2}}),
]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) else value
    return out


def variants(hw: tuple[int, int]) -> dict[str, dict[str, Any]]:
    base = with_input_size(load_recipe(CONFIGS / "mobilenetv2_bifpn.yaml"), hw)
    base["backbone"] = {**base["backbone"], "pretrained": False}
    out, current = {}, base
    for label, change in STEPS:
        current = _merge(current, change)
        out[label] = normalize_recipe(current)
    for label, change in NOT_TAKEN:
        out[label] = normalize_recipe(_merge(current, change))
    return out


def train_step_seconds(recipes: dict[str, dict[str, Any]], steps: int) -> dict[str, float]:
    """Median wall seconds of a training step per recipe, the recipes taking turns."""
    models = {}
    for name, recipe in recipes.items():
        r = with_input_size(recipe, (256, 448))
        model = build_model(r).train().to(memory_format=torch.channels_last)
        models[name] = (model, torch.optim.AdamW(model.parameters(), 1e-3))
    x = torch.randn(8, 3, 256, 448).contiguous(memory_format=torch.channels_last)
    times: dict[str, list[float]] = {n: [] for n in models}
    for step in range(steps + 1):
        for name, (model, opt) in models.items():
            t0 = time.perf_counter()
            out = model(x)
            loss = sum(p.mean() for p in out["det"]) + out["drivable"].mean() + out["lane"].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step:  # the first step of each is a warm-up
                times[name].append(time.perf_counter() - t0)
    return {n: sorted(v)[len(v) // 2] for n, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="recipe_ablation.py", description=__doc__.splitlines()[0])
    add_size(p, "--resolution", default=(384, 640))
    p.add_argument("--iters", type=positive_int, default=20)
    p.add_argument("--train-steps", type=int, default=0)
    args = p.parse_args(argv)
    logging.disable(logging.WARNING)
    recipes = variants(args.resolution)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for i, (name, recipe) in enumerate(recipes.items()):
            torch.manual_seed(0)
            paths[name] = Path(tmp) / f"v{i}.onnx"
            export_model(build_model(recipe).eval(), paths[name], args.resolution)
        lat = time_backends(paths, "onnxruntime", args.iters, 3, 120.0)
    steps = train_step_seconds(recipes, args.train_steps) if args.train_steps else {}
    first = next(iter(recipes))
    print(f"{args.resolution[0]}x{args.resolution[1]}, ONNX Runtime CPU "
          f"({lat[first]['backend']}), p50 of up to {args.iters} interleaved runs")
    print("| change | params | GFLOPs | p50 | latency ratio |"
          + (" train step | train ratio |" if steps else ""))
    print("|---|---|---|---|---|" + ("---|---|" if steps else ""))
    for name, recipe in recipes.items():
        st = model_stats(recipe, args.resolution)
        row = (f"| {name} | {st['params_m']:.2f} M | {st['gflops']:.2f} | "
               f"{lat[name]['p50']:.1f} ms | {lat[name]['p50'] / lat[first]['p50']:.2f}× |")
        if steps:
            row += f" {steps[name]:.2f} s | {steps[name] / steps[first]:.2f}× |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("recipe_ablation.py", main))
