"""Timing and peak-memory measurement for mtl-bench (no torch).

Why: every benchmark figure must come from the same measurement code. Latency goes through
``load_backend`` (ONNX Runtime here, TensorRT on a GPU: the same call), timing only the
backend's ``run``; peak memory is measured in a fresh subprocess per configuration, since a
process's peak RSS can only grow.

Run as a module, it is that subprocess:
    python -m mtl_perception.tools.bench_timing sessions M1.onnx [M2.onnx ...] --iters 20
prints one JSON line: per-frame time of running the models one after another, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def summarize(samples_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms, np.float64)
    return {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
            "mean": float(arr.mean()), "min": float(arr.min()), "n": int(arr.size)}


def time_call(fn: Callable[[], Any], iters: int, warmup: int, max_seconds: float,
              min_iters: int = 3) -> dict[str, float]:
    """Time ``fn`` ``iters`` times after ``warmup`` calls; stops early after ``max_seconds``."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < iters:
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
        if len(samples) >= min_iters and time.perf_counter() - start > max_seconds:
            break
    return summarize(samples)


def time_backend(model: Path, backend: str, iters: int, warmup: int, max_seconds: float,
                 threads: int = 0) -> dict[str, Any]:
    """Latency of one model's backend.run on a letterboxed uint8 frame."""
    from mtl_perception.inference.backends import load_backend

    b = load_backend(model, backend, intra_op_threads=threads)
    try:
        spec = b.spec
        frame = np.random.default_rng(0).integers(
            0, 256, (spec.input_height, spec.input_width, 3), dtype=np.uint8)
        stats = time_call(lambda: b.run(frame), iters, warmup, max_seconds)
        stats["backend"] = type(b).__name__
    finally:
        b.close()
    return stats


def _ort_runner(paths: list[Path]) -> Callable[[], None]:
    import onnxruntime as ort

    sessions = []
    for p in paths:
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        inp = s.get_inputs()[0]
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        dtype = np.uint8 if "uint8" in inp.type else np.float32
        data = (np.random.default_rng(0).integers(0, 256, shape).astype(dtype) if dtype is np.uint8
                else np.random.default_rng(0).standard_normal(shape).astype(np.float32))
        sessions.append((s, {inp.name: data}))

    def run() -> None:
        for s, feed in sessions:
            s.run(None, feed)

    return run


def peak_rss_mb() -> float:
    """This process image's peak RSS (VmHWM). Not ru_maxrss: that survives fork + exec, so a
    child of a big parent would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_in_subprocess(paths: list[Path], iters: int, warmup: int,
                          max_seconds: float) -> dict[str, Any]:
    """Per-frame time and peak RSS of running ``paths`` one after another, in a new process."""
    cmd = [sys.executable, "-m", "mtl_perception.tools.bench_timing", "sessions",
           *map(str, paths), "--iters", str(iters), "--warmup", str(warmup),
           "--max-seconds", str(max_seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_timing")
    p.add_argument("mode", choices=("sessions", "baseline"))
    p.add_argument("models", nargs="*", type=Path)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--max-seconds", type=float, default=30.0)
    a = p.parse_args(argv)
    import onnxruntime  # noqa: F401 - part of the baseline in both modes

    base = peak_rss_mb()
    if a.mode == "baseline" or not a.models:
        print(json.dumps({"peak_rss_mb": base}))
        return 0
    run = _ort_runner(a.models)
    stats = time_call(run, a.iters, a.warmup, a.max_seconds)
    print(json.dumps({**stats, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": base}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
