"""The model tables of docs/benchmarks.md: measure each into a numbers dict, render it.

* ``model-stats`` (Table II of Miraliev et al.): params, FLOPs at 384x640, size, vs the paper;
* ``latency`` (Table III): p50/p99 per resolution x backbone, the backbones interleaved;
* ``mtl-vs-naive``: one multi-task model vs three single-task models (time, memory, size);
* ``peers``: other image-input ONNX models next to ours, same input, same backend.

Each ``measure_*`` returns plain numbers (what ``--json`` writes); each ``render_*`` turns such
numbers into the section's Markdown, so the text is a function of the numbers alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mtl_perception.deploy.latency import (
    measure_in_subprocess,
    ort_runner,
    time_backends,
    time_interleaved,
)
from mtl_perception.devtools.bench.common import BenchError, machine, run_line, section
from mtl_perception.devtools.bench.jetson import measure_jetson, render_jetson
from mtl_perception.devtools.bench.models import (
    FAITHFUL,
    RECIPES,
    contract_model,
    model_file_mb,
    raw_model,
    recipe_path,
)

PAPER_TABLE_II = {"resnet50": (27.6, 162.4, 110), "mobilenetv2": (5.4, 33.8, 24)}
PAPER_TABLE_III = {
    "resnet50": {"256x384": 68.12, "256x512": 85.18, "384x640": 139.66, "768x1280": 473.93},
    "mobilenetv2": {"256x384": 46.15, "256x512": 59.71, "384x640": 98.23, "768x1280": 302.11},
}
RESOLUTIONS = ((256, 384), (256, 512), (384, 640), (768, 1280))
TASKS = ("detection", "drivable", "lane")


def hw_text(hw: tuple[int, int]) -> str:
    return f"{hw[0]}x{hw[1]}"


# ----------------------------------------------------------------------------- model-stats
def measure_model_stats(args: argparse.Namespace) -> dict[str, Any]:
    exe = shutil.which("mtl-eval") or str(Path(sys.executable).with_name("mtl-eval"))
    models = {}
    names = list(RECIPES)
    out = subprocess.run([exe, "stats", "--config", *(str(recipe_path(n)) for n in names),
                          "--resolution", "384x640", "--json", "-"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise BenchError(f"mtl-eval stats failed: {out.stderr[-1000:]}")
    for name, stats in zip(names, json.loads(out.stdout.strip().splitlines()[-1]), strict=True):
        models[name] = stats
    return {"models": models}


def render_model_stats(numbers: dict[str, Any], command: str, machine_line: str,
                       run: str) -> str:
    rows = []
    for name, s in numbers["models"].items():
        p = PAPER_TABLE_II.get(name, ("—", "—", "—"))
        rows.append(f"| {name} + BiFPN ({s['recipe']}) | {s['params_m']:.1f} M | {p[0]} M | "
                    f"{s['gflops']:.1f} G | {p[1]} G | {s['size_mb']:.0f} MB | {p[2]} MB |")
    body = ["Table II of Miraliev et al. at 384×640, ours from `mtl-eval stats --json` "
            "(FLOPs = 2 × multiply-adds, torch.utils.flop_counter; size = fp32 state_dict). "
            "The deployment recipe is not in the paper (—).", "",
            "| model | params (ours) | params (paper) | FLOPs (ours) | FLOPs (paper) | "
            "size (ours) | size (paper) |", "|---|---|---|---|---|---|---|", *rows]
    return section("model-stats: Table II", command, body, machine_line, run)


# ----------------------------------------------------------------------------- latency
def measure_latency(args: argparse.Namespace) -> dict[str, Any]:
    cache = Path(args.cache_dir)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for hw in args.resolutions:  # the backbones interleaved at each resolution
        res = hw_text(hw)
        models = {b: contract_model(b, hw, cache) for b in args.backbones}
        cells = time_backends(models, args.backend, args.iters, args.warmup, args.max_seconds)
        for backbone, stats in cells.items():
            results.setdefault(backbone, {})[res] = stats
            print(f"latency {backbone} {res}: p50 {stats['p50']:.1f} ms p99 {stats['p99']:.1f} "
                  f"ms (n={stats['n']}, {stats['backend']})", file=sys.stderr)
    backend_name = next(iter(next(iter(results.values())).values()))["backend"]
    numbers = {"backend": backend_name, "backend_option": args.backend,
               "resolutions": [hw_text(r) for r in args.resolutions], "warmup": args.warmup,
               "iters": args.iters, "max_seconds": args.max_seconds, "results": results,
               "plot": args.plot}
    if args.plot:
        _plot_latency(results, numbers["resolutions"], Path(args.plot), backend_name)
    return numbers


def render_latency(numbers: dict[str, Any], command: str, machine_line: str, run: str) -> str:
    resolutions, results = numbers["resolutions"], numbers["results"]
    header = "| model | " + " | ".join(f"{r} p50 / p99 (paper)" for r in resolutions) + " |"
    rows = [header, "|---|" + "---|" * len(resolutions)]
    for backbone, cells in results.items():
        paper = PAPER_TABLE_III.get(backbone, {})
        rows.append(f"| {backbone} + BiFPN | " + " | ".join(
            f"{cells[r]['p50']:.1f} / {cells[r]['p99']:.1f} ms ({paper.get(r, '—')} ms)"
            for r in resolutions) + " |")
    if {"resnet50", "mobilenetv2"} <= set(results):
        rows.append("| ResNet50 / MobileNetV2 (p50) | " + " | ".join(
            f"{results['resnet50'][r]['p50'] / results['mobilenetv2'][r]['p50']:.2f}× "
            f"({PAPER_TABLE_III['resnet50'][r] / PAPER_TABLE_III['mobilenetv2'][r]:.2f}×)"
            if r in PAPER_TABLE_III["resnet50"] else "—" for r in resolutions) + " |")
    for fast, faithful in FAITHFUL.items():
        if {fast, faithful} <= set(results):
            rows.append(f"| {fast} / {faithful} (p50) | " + " | ".join(
                f"{results[fast][r]['p50'] / results[faithful][r]['p50']:.2f}×"
                for r in resolutions) + " |")
    body = [f"Table III of Miraliev et al. reproduced on **{numbers['backend']}** (`--backend "
            f"{numbers['backend_option']}`), batch 1, the node's exported graph (uint8 in, "
            "decoded boxes, argmax masks), `backend.run` only; at each resolution the recipes "
            f"take turns run by run in one process; {numbers['warmup']} warm-up runs, then up "
            f"to {numbers['iters']} timed runs or {numbers['max_seconds']:g} s per resolution. "
            "The paper's figures (in brackets) are TensorRT on a Jetson Xavier NX: compare the "
            "ratios, not the milliseconds.", "", *rows]
    if numbers.get("plot"):
        body += ["", f"![latency]({Path(numbers['plot']).name})"]
    return section("latency: Table III", command, body, machine_line, run)


def _plot_latency(results: dict[str, dict[str, dict[str, float]]], resolutions: list[str],
                  path: Path, backend: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    sizes = [tuple(int(v) for v in r.split("x")) for r in resolutions]
    pixels = [h * w / 1e6 for h, w in sizes]
    for backbone, cells in results.items():
        (line,) = ax.plot(pixels, [cells[r]["p50"] for r in resolutions], "o-",
                          label=f"{backbone} p50 ({backend})")
        ax.fill_between(pixels, [cells[r]["p50"] for r in resolutions],
                        [cells[r]["p99"] for r in resolutions], alpha=0.2,
                        color=line.get_color())
        paper = PAPER_TABLE_III.get(backbone, {})
        known = [(x, paper[r]) for x, r in zip(pixels, resolutions, strict=True) if r in paper]
        if known:
            ax.plot(*zip(*known, strict=True), "x--", color=line.get_color(), alpha=0.6,
                    label=f"{backbone} paper (Xavier NX, TensorRT)")
    ax.set_xlabel("input megapixels")
    ax.set_ylabel("latency ms (band: p50..p99)")
    ax.set_xticks(pixels, resolutions, rotation=20)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- mtl-vs-naive
def measure_mtl_vs_naive(args: argparse.Namespace) -> dict[str, Any]:
    cache, res = Path(args.cache_dir), args.resolution
    multi = [raw_model(args.backbone, res, list(TASKS), cache)]
    naive = [raw_model(args.backbone, res, [t], cache) for t in TASKS]
    base = measure_in_subprocess([], 1, 0, 1)["peak_rss_mb"]
    mem_multi = measure_in_subprocess(multi, 2, 1, 5)["peak_rss_mb"]
    mem_naive = measure_in_subprocess(naive, 2, 1, 5)["peak_rss_mb"]
    times = time_interleaved({"multi": ort_runner(multi), "naive": ort_runner(naive)},
                             args.iters, args.warmup, args.max_seconds)
    return {"backbone": args.backbone, "resolution": hw_text(res), "base_rss_mb": base,
            "time": times, "memory_mb": {"multi": mem_multi - base, "naive": mem_naive - base},
            "size_mb": {"multi": sum(map(model_file_mb, multi)),
                        "naive": sum(map(model_file_mb, naive))}}


def render_mtl_vs_naive(numbers: dict[str, Any], command: str, machine_line: str,
                        run: str) -> str:
    m, n = numbers["time"]["multi"], numbers["time"]["naive"]
    mem_m, mem_n = numbers["memory_mb"]["multi"], numbers["memory_mb"]["naive"]
    size_m, size_n = numbers["size_mb"]["multi"], numbers["size_mb"]["naive"]
    body = [
        f"One {numbers['backbone']} + BiFPN model with all three heads vs three single-task "
        "models (detection only, drivable only, lane only; each with its own backbone and neck, "
        f"the recipe's `tasks` subset) on the same {numbers['resolution']} frame, ONNX Runtime "
        "CPU with the node's session options, raw head outputs (no decode/argmax in graph, for "
        "all four). Time: the two configurations take turns run by run in one process (the "
        "three naive models one after another within a run). Peak memory is each "
        "configuration's peak RSS in its own process minus that of a process that only "
        f"imported onnxruntime ({numbers['base_rss_mb']:.0f} MB).", "",
        "| | multi-task | naive (3 models) | naive / multi-task | Martí et al. (Titan X) |",
        "|---|---|---|---|---|",
        f"| time per frame, p50 | {m['p50']:.1f} ms | {n['p50']:.1f} ms | "
        f"{n['p50'] / m['p50']:.2f}× | 49 / 30 ms = 1.63× |",
        f"| peak memory | {mem_m:.0f} MB | {mem_n:.0f} MB | {mem_n / max(mem_m, 1e-9):.2f}× | "
        "2511 / 1552 MB = 1.62× |",
        f"| model size (ONNX fp32) | {size_m:.1f} MB | {size_n:.1f} MB | "
        f"{size_n / size_m:.2f}× | 235 / 140 MB = 1.68× |",
        "", f"Timed runs: {m['n']} (multi-task), {n['n']} (naive); p99 {m['p99']:.1f} vs "
        f"{n['p99']:.1f} ms.",
    ]
    return section("mtl-vs-naive: one multi-task model vs three single-task models", command,
                   body, machine_line, run)


# ----------------------------------------------------------------------------- peers
def peer_arg(text: str) -> tuple[str, Path]:
    """``--peer NAME=path.onnx``."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=path.onnx, got {text!r}")
    return name, Path(path)


def measure_peers(args: argparse.Namespace) -> dict[str, Any]:
    from mtl_perception.inference.backends import load_backend

    ours_name = f"ours: {args.backbone} + BiFPN"
    models = {ours_name: contract_model(args.backbone, args.resolution, Path(args.cache_dir))}
    for name, path in args.peer:
        if not path.is_file():
            raise BenchError(f"--peer {name}={path}: no such file")
        models[name] = path
    ours = load_backend(models[ours_name], args.backend)
    try:
        spec = ours.spec
        frame = np.random.default_rng(0).integers(
            0, 256, (spec.input_height, spec.input_width, 3), dtype=np.uint8)
        fns: dict[str, Callable[[], Any]] = {ours_name: lambda: ours.run(frame)}
        fns.update({name: ort_runner([path]) for name, path in models.items()
                    if name != ours_name})
        stats = time_interleaved(fns, args.iters, args.warmup, args.max_seconds)
    finally:
        ours.close()
    return {"resolution": hw_text(args.resolution),
            "models": {name: {"file": path.name, "size_mb": model_file_mb(path), **stats[name]}
                       for name, path in models.items()}}


def render_peers(numbers: dict[str, Any], command: str, machine_line: str, run: str) -> str:
    rows = ["| model | file | p50 ms | p99 ms | runs |", "|---|---|---|---|---|"]
    for name, s in numbers["models"].items():
        rows.append(f"| {name} | `{s['file']}` ({s['size_mb']:.1f} MB) | "
                    f"{s['p50']:.1f} | {s['p99']:.1f} | {s['n']} |")
    body = [f"Image-input ONNX models at {numbers['resolution']}, taking turns run by run in one "
            "process (ours through its backend, peers with the node's ONNX Runtime session "
            "options). Peers get a random input of their own declared shape (dynamic dimensions "
            "-> 1); give them an export at the same resolution for a fair comparison.", "",
            *rows]
    if len(numbers["models"]) == 1:
        body += ["", "No `--peer` given: only our model was timed. Example: "
                 "`mtl-bench peers --peer yolop=yolop-384-640.onnx`."]
    return section("peers", command, body, machine_line, run)


# ----------------------------------------------------------------------------- registry
Measure = Callable[[argparse.Namespace], dict[str, Any]]
Render = Callable[[dict[str, Any], str, str, str], str]
TABLES: dict[str, tuple[Measure, Render]] = {
    "model-stats": (measure_model_stats, render_model_stats),
    "latency": (measure_latency, render_latency),
    "mtl-vs-naive": (measure_mtl_vs_naive, render_mtl_vs_naive),
    "peers": (measure_peers, render_peers),
    "jetson-estimate": (measure_jetson, render_jetson),
}


def run_table(name: str, args: argparse.Namespace, command: str) -> tuple[str, dict[str, Any]]:
    """Measure one table and render it; returns (markdown, numbers)."""
    measure, render = TABLES[name]
    started = time.time()
    numbers = measure(args)
    numbers["machine"], numbers["run"] = machine(), run_line(started)
    return render(numbers, command, numbers["machine"], numbers["run"]), numbers
