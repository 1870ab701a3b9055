"""mtl-bench and mtl-demo speak the shared grammar, through their real console-script entries.

A bad argument is one line on stderr and exit 2; a runtime error one line and exit 1; the
help shows the shared options. The benchmarks page is rendered from numbers alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mtl_perception.devtools.bench.page import NOTES, render_page
from mtl_perception.devtools.bench.tables import render_latency, render_model_stats

ROOT = Path(__file__).resolve().parents[1]


def _run(entry: str, *args: str) -> subprocess.CompletedProcess:
    """The console script ``entry`` (mtl_perception.cli.entry_points) with ``args``."""
    code = (f"import sys; from mtl_perception.cli.entry_points import {entry}; "
            f"sys.argv = [{entry!r}, *{list(args)!r}]; sys.exit({entry}())")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


@pytest.mark.parametrize(("entry", "args", "says"), [
    ("mtl_bench", ["latency", "--resolutions", "640x384"], "height first"),
    ("mtl_bench", ["qos", "--size", "big"], "expected HxW"),
    ("mtl_bench", ["qos", "--pairs", "reliable:fast:1"], "PUB:SUB:DEPTH"),
    ("mtl_bench", ["peers", "--peer", "nonsense"], "NAME=path.onnx"),
    ("mtl_bench", ["node", "--overhead-repeats", "0"], ">= 1"),
    ("mtl_bench", ["no-such-mode"], "invalid choice"),
    ("mtl_bench", ["cameras", "--quiet"], "unrecognized arguments"),
    ("mtl_demo", ["--size", "1280x720"], "height first"),
    ("mtl_demo", ["--frames", "0"], ">= 1"),
    ("mtl_demo", ["--quiet"], "unrecognized arguments"),
])
def test_bad_argument_is_one_line_and_exit_2(entry: str, args: list[str], says: str) -> None:
    run = _run(entry, *args)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert says in lines[0] and "error:" in lines[0]
    assert "Traceback" not in run.stderr


def test_runtime_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    run = _run("mtl_bench", "lanes", "--venv", str(tmp_path / "no-venv"))
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtl-bench: lanes: "), run.stderr
    assert "does not exist" in lines[0]


def test_help_shows_the_shared_grammar() -> None:
    top = _run("mtl_bench", "--help")
    assert top.returncode == 0
    for mode in ("model-stats", "latency", "mtl-vs-naive", "peers", "node", "qos", "lanes",
                 "cameras", "all"):
        assert mode in top.stdout
    assert "HxW" in top.stdout and "--json PATH" in top.stdout
    for mode, sized in (("qos", "--size HxW"), ("latency", "--resolutions HxW"),
                        ("peers", "--resolution HxW"), ("mtl-vs-naive", "--resolution HxW")):
        run = _run("mtl_bench", mode, "--help")
        assert run.returncode == 0 and sized in run.stdout, mode
        assert "--json PATH" in run.stdout and "--out PATH" in run.stdout, mode
    demo = _run("mtl_demo", "--help")
    assert demo.returncode == 0
    assert "--size HxW" in demo.stdout and "--no-progress" in demo.stdout
    assert "--quiet" not in demo.stdout


def test_benchmarks_page_is_rendered_from_numbers() -> None:
    stats = {"models": {
        "resnet50": {"recipe": "resnet50_bifpn", "params_m": 27.71, "gflops": 63.8,
                     "size_mb": 111.2},
        "mobilenetv2": {"recipe": "mobilenetv2_bifpn", "params_m": 5.49, "gflops": 25.2,
                        "size_mb": 22.0}}}
    cell = {"p50": 100.0, "p99": 120.0, "n": 10, "backend": "OnnxRuntimeBackend"}
    latency = {"backend": "OnnxRuntimeBackend", "backend_option": "onnxruntime",
               "resolutions": ["256x384"], "warmup": 1, "iters": 10, "max_seconds": 8.0,
               "plot": "docs/benchmarks_latency.png",
               "results": {"resnet50": {"256x384": {**cell, "p50": 250.0}},
                           "mobilenetv2": {"256x384": cell},
                           "mobilenetv2_fast": {"256x384": {**cell, "p50": 30.0}}}}
    sections = [render_model_stats(stats, "mtl-bench model-stats", "test machine", "Run: now"),
                render_latency(latency, "mtl-bench latency", "test machine", "Run: now")]
    text = render_page("mtl-bench all --out docs/benchmarks.md", sections)
    lines = text.splitlines()
    assert lines[0] == "# Benchmarks"
    assert f"[{NOTES}]({NOTES})" in text
    assert "Written by `mtl-bench all --out docs/benchmarks.md`" in text
    rows = [line for line in lines if line.startswith("| ") and "BiFPN (" in line]
    assert rows == [
        "| resnet50 + BiFPN (resnet50_bifpn) | 27.7 M | 27.6 M | 63.8 G | 162.4 G | 111 MB "
        "| 110 MB |",
        "| mobilenetv2 + BiFPN (mobilenetv2_bifpn) | 5.5 M | 5.4 M | 25.2 G | 33.8 G | 22 MB "
        "| 24 MB |"]
    ratio = next(line for line in lines if line.startswith("| ResNet50 / MobileNetV2"))
    assert "2.50×" in ratio and "(1.48×)" in ratio  # ours 250/100, paper 68.12/46.15
    fast = next(line for line in lines if line.startswith("| mobilenetv2_fast / mobilenetv2"))
    assert "| 0.30× |" in fast  # the deployment recipe against the paper's, 30/100
    assert "![latency](benchmarks_latency.png)" in text
    assert [line for line in lines if line.startswith("## ")] == [
        "## model-stats: Table II", "## latency: Table III"]
    assert "Machine: test machine" in text and "Command: `mtl-bench latency`" in text


def test_jetson_estimate_reproduces_the_papers_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both readings of Table III give the paper's own milliseconds back for the networks it
    measured, and bracket a recipe with fewer FLOPs between them."""
    from mtl_perception.devtools.bench import jetson

    flops = {"mobilenetv2": 25.0, "resnet50": 64.0, "mobilenetv2_fast": 4.0}

    def fake_stats(names: list[str], res: str) -> list[dict[str, float]]:
        scale = {"256x384": 0.4, "256x512": 0.53, "384x640": 1.0, "768x1280": 4.0}[res]
        return [{"gflops": flops[n] * scale} for n in names]

    monkeypatch.setattr(jetson, "_stats", fake_stats)
    numbers = jetson.measure_jetson(argparse.Namespace())
    low, high = numbers["estimate_ms"]["proportional"], numbers["estimate_ms"]["affine"]
    for res, ms in jetson.PAPER_NX_MS.items():
        assert low["mobilenetv2"][res] == pytest.approx(ms)
        assert high["mobilenetv2"][res] == pytest.approx(ms)
        assert high["resnet50"][res] == pytest.approx(jetson.PAPER_NX_MS_R50[res])
        assert low["mobilenetv2_fast"][res] < high["mobilenetv2_fast"][res] < ms
    assert low["mobilenetv2_fast"]["384x640"] == pytest.approx(98.23 * 4 / 25)
    text = jetson.render_jetson(numbers, "mtl-bench jetson-estimate", "test machine", "Run: now")
    row = next(line for line in text.splitlines() if line.startswith("| mobilenetv2_fast"))
    assert f"4.0 G, {low['mobilenetv2_fast']['384x640']:.0f}–" in row
    assert "—, 26–29" in text
