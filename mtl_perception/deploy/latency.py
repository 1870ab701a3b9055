"""Timing and peak-memory measurement for mtl-quantize and mtl-bench (no torch).

Why: every benchmark figure must come from the same measurement code. Anything compared
side by side (multi-task vs naive, INT8 vs FP32, backbones, peers) is timed by
:func:`time_interleaved`: one process, the configurations taking turns run by run, so each
sees the same machine state; sessions get the node's ONNX Runtime options
(``onnxruntime_backend.session_options``). Exported models run through ``load_backend``
(ONNX Runtime here, TensorRT on a GPU: the same call), timing only ``run``. Peak memory is
measured in a fresh subprocess per configuration, since a process's peak RSS can only grow.

Run as a module, it is that subprocess:
    python -m mtl_perception.deploy.latency sessions M1.onnx [M2.onnx ...] --iters 20
prints one JSON line: per-frame time of running the models one after another, and peak RSS.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mtl_perception.common.cli_args import ArgumentParser


def summarize(samples_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms, np.float64)
    return {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
            "mean": float(arr.mean()), "min": float(arr.min()), "n": int(arr.size)}


def time_interleaved(fns: dict[str, Callable[[], Any]], iters: int, warmup: int,
                     max_seconds: float, min_iters: int = 3) -> dict[str, dict[str, float]]:
    """Time every ``fn`` in turn, run by run (the order rotates each round), ``iters`` rounds
    after ``warmup``; stops early after ``max_seconds`` of timed rounds."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    for r in range(iters):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            samples[name].append((time.perf_counter() - t0) * 1e3)
        if r + 1 >= min_iters and time.perf_counter() - start > max_seconds:
            break
    return {n: summarize(v) for n, v in samples.items()}


def time_call(fn: Callable[[], Any], iters: int, warmup: int, max_seconds: float,
              min_iters: int = 3) -> dict[str, float]:
    """Time ``fn`` alone (a single configuration; comparisons use time_interleaved)."""
    return time_interleaved({"fn": fn}, iters, warmup, max_seconds, min_iters)["fn"]


def time_backends(models: dict[str, Path], backend: str, iters: int, warmup: int,
                  max_seconds: float, threads: int = 0) -> dict[str, dict[str, Any]]:
    """Interleaved latency of exported models' backend.run, each on a uint8 frame its size."""
    from mtl_perception.inference.backends import load_backend

    loaded = {}
    try:
        for name, model in models.items():
            loaded[name] = load_backend(model, backend, intra_op_threads=threads)
        fns = {}
        for name, b in loaded.items():
            spec = b.spec
            frame = np.random.default_rng(0).integers(
                0, 256, (spec.input_height, spec.input_width, 3), dtype=np.uint8)
            fns[name] = (lambda b=b, f=frame: b.run(f))
        stats: dict[str, dict[str, Any]] = dict(time_interleaved(fns, iters, warmup,
                                                                 max_seconds))
        for name, b in loaded.items():
            stats[name]["backend"] = type(b).__name__
    finally:
        for b in loaded.values():
            b.close()
    return stats


def time_backend(model: Path, backend: str, iters: int, warmup: int, max_seconds: float,
                 threads: int = 0) -> dict[str, Any]:
    """Latency of one model's backend.run on a letterboxed uint8 frame."""
    return time_backends({"model": model}, backend, iters, warmup, max_seconds, threads)["model"]


def ort_session(path: Path, threads: int = 0) -> Any:
    """A CPU ONNX Runtime session with the node's session options."""
    import onnxruntime as ort

    from mtl_perception.inference.backends.onnxruntime_backend import session_options

    return ort.InferenceSession(str(path), session_options(threads),
                                providers=["CPUExecutionProvider"])


def ort_runner(paths: list[Path], threads: int = 0) -> Callable[[], None]:
    """One call runs every model once, one after another, with the node's session options
    (random input of each model's declared shape; dynamic dimensions -> 1)."""
    sessions = []
    for p in paths:
        s = ort_session(p, threads)
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
    """Peak RSS (and the time, not to be compared) of running ``paths`` in a new process."""
    cmd = [sys.executable, "-m", "mtl_perception.deploy.latency", "sessions",
           *map(str, paths), "--iters", str(iters), "--warmup", str(warmup),
           "--max-seconds", str(max_seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="bench_timing")
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
    run = ort_runner(a.models)
    stats = time_call(run, a.iters, a.warmup, a.max_seconds)
    print(json.dumps({**stats, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": base}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
