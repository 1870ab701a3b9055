"""``mtl-bench jetson-estimate``: each recipe's GFLOPs and an estimated Xavier NX latency.

Why an estimate: no Jetson (and no TensorRT) is reachable from where this runs. The paper's
Table III gives the measured TensorRT latency of its two networks on a Xavier NX at four
resolutions. Two readings of it bracket a recipe's time, both from GFLOPs counted here for
the same architectures:

* proportional: the MobileNetV2 network's ms per GFLOP, times the recipe's GFLOPs. Time
  proportional to FLOPs flatters depthwise-separable layers (they reach a smaller share of a
  GPU's peak than dense convolutions), so this is the low end;
* affine: the line through the two networks' (GFLOPs, ms), whose intercept is time that does
  not shrink with FLOPs (the paper's ResNet50 has 2.5x the FLOPs here and takes only 1.4x the
  time). Extrapolated to a recipe far below both, this is the high end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from mtl_perception.devtools.bench.common import BenchError, section
from mtl_perception.devtools.bench.models import RECIPES, recipe_path

# The paper's measured TensorRT latency of its MobileNetV2 network on a Xavier NX (Table III).
PAPER_NX_MS = {"256x384": 46.15, "256x512": 59.71, "384x640": 98.23, "768x1280": 302.11}
PAPER_NX_MS_R50 = {"256x384": 68.12, "256x512": 85.18, "384x640": 139.66, "768x1280": 473.93}
REFERENCE = "mobilenetv2"  # the networks those milliseconds were measured on
REFERENCE_R50 = "resnet50"
# YOLOP with TensorRT FP16 at 384x640 on a Xavier NX, as its deployment toolkit publishes it.
YOLOP_NX_MS = (26.0, 29.0)


def _stats(names: list[str], res: str) -> list[dict[str, Any]]:
    exe = shutil.which("mtl-eval") or str(Path(sys.executable).with_name("mtl-eval"))
    out = subprocess.run([exe, "stats", "--config", *(str(recipe_path(n)) for n in names),
                          "--resolution", res, "--json", "-"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise BenchError(f"mtl-eval stats failed: {out.stderr[-1000:]}")
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    return rows if isinstance(rows, list) else [rows]


def measure_jetson(args: argparse.Namespace) -> dict[str, Any]:
    names = list(RECIPES)
    gflops: dict[str, dict[str, float]] = {n: {} for n in names}
    low: dict[str, dict[str, float]] = {n: {} for n in names}
    high: dict[str, dict[str, float]] = {n: {} for n in names}
    for res, paper_ms in PAPER_NX_MS.items():
        rows = dict(zip(names, _stats(names, res), strict=True))
        g_m, g_r = rows[REFERENCE]["gflops"], rows[REFERENCE_R50]["gflops"]
        slope = (PAPER_NX_MS_R50[res] - paper_ms) / (g_r - g_m)
        intercept = paper_ms - slope * g_m
        for name, row in rows.items():
            gflops[name][res] = row["gflops"]
            low[name][res] = row["gflops"] * paper_ms / g_m
            high[name][res] = intercept + slope * row["gflops"]
    return {"resolutions": list(PAPER_NX_MS), "gflops": gflops,
            "estimate_ms": {"proportional": low, "affine": high}, "paper_ms": PAPER_NX_MS,
            "paper_ms_resnet50": PAPER_NX_MS_R50, "yolop_ms": list(YOLOP_NX_MS)}


def _span(a: float, b: float) -> str:
    lo, hi = sorted((round(a), round(b)))
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def render_jetson(numbers: dict[str, Any], command: str, machine_line: str, run: str) -> str:
    res = numbers["resolutions"]
    est = numbers["estimate_ms"]
    rows = ["| recipe | " + " | ".join(f"{r}: GFLOPs, est. ms" for r in res) + " |",
            "|---|" + "---|" * len(res)]
    for name, cells in numbers["gflops"].items():
        rows.append(f"| {name} + BiFPN | " + " | ".join(
            f"{cells[r]:.1f} G, {_span(est['proportional'][name][r], est['affine'][name][r])}"
            for r in res) + " |")
    lo, hi = numbers["yolop_ms"]
    rows.append("| YOLOP, TensorRT FP16, published | " + " | ".join(
        f"—, {lo:g}–{hi:g}" if r == "384x640" else "—" for r in res) + " |")
    body = ["Estimated TensorRT latency on a Jetson Xavier NX, made on paper from the paper's "
            "Table III (Miraliev et al.), which measured its MobileNetV2 network there at "
            + ", ".join(f"{numbers['paper_ms'][r]:g}" for r in res) + " ms and its ResNet50 "
            "network at " + ", ".join(f"{numbers['paper_ms_resnet50'][r]:g}" for r in res)
            + " ms (the resolutions of the columns; the paper does not state the precision). "
            "The low end scales the MobileNetV2 network's ms per GFLOP by each recipe's GFLOPs "
            "(counted here); the high end extrapolates the line through the two networks' "
            "(GFLOPs, ms), whose intercept does not shrink with FLOPs. YOLOP's 26–29 ms "
            "(384×640, TensorRT FP16, Xavier NX, engine and output copy) is its deployment "
            "toolkit's published figure. Nothing here ran on a Jetson or on TensorRT.", "",
            *rows]
    return section("jetson-estimate: Xavier NX, on paper", command, body, machine_line, run)
