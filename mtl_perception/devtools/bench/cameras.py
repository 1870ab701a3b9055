"""`mtl-bench cameras`: one multi-camera node against N single-camera nodes, side by side.

For N = 1, 2, 4 cameras (``--cameras``) and each rate (``--rates``, 10 and 30 Hz), this
process publishes N streams of 1280x720 bgr8 frames (all cameras on the same tick, as
hardware-triggered rigs do) to ``/cams/camK/image`` and receives ``/cams/camK/lane/mask``
(the last output) from either one ``perception_node`` with ``cameras:=[cam0, ...]`` in
``/cams`` or N ``perception_node`` processes in ``/cams/camK``. Same model for both: a
random-weight conv net with a dynamic batch dimension (``mtl-export --dynamic`` layout),
ONNX Runtime CPU. Reported per cell: total RSS of the node processes, outputs/s per camera
(min and max) and in total, latency (publish -> lane mask received) p50/p99 over all
cameras, CPU % of the node processes (100 = one core) and, for the multi-camera node, the
batch sizes it ran (from its /diagnostics backend status).

Targets at N = 4: the multi-camera node's RSS <= 0.5x the N nodes' total; its
total outputs/s >= theirs; every camera >= 0.8x the mean camera rate.

    mtl-bench cameras --seconds 12 --out docs/benchmarks_cameras.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_json,
    add_out,
    positive_float,
    positive_int,
    run_cli,
    write_json,
)
from mtl_perception.devtools.bench.probes import H, W, cpu_seconds, rss_mb
from mtl_perception.devtools.onnx_models import build_random_model

NS = "/cams"


class MultiProbe:
    """Publishes N camera streams and receives each camera's lane mask and diagnostics."""

    def __init__(self, cameras: int) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node("bench_cameras_probe", context=self.context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.arrivals: dict[int, list[tuple[int, float]]] = defaultdict(list)
        self.sent: dict[int, float] = {}
        self.backend: dict[str, str] = {}
        self.pubs = []
        self.msgs = []
        frame = np.zeros((H, W, 3), np.uint8)
        frame[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)
        for k in range(cameras):
            self.pubs.append(self.node.create_publisher(Image, f"{NS}/cam{k}/image", qos))
            msg = Image(encoding="bgr8", height=H, width=W, step=W * 3)
            msg.data = frame.tobytes()
            msg.header.frame_id = f"cam{k}"
            self.msgs.append(msg)
            self.node.create_subscription(Image, f"{NS}/cam{k}/lane/mask",
                                          lambda m, k=k: self._on_output(k, m), qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_output(self, camera: int, msg: Any) -> None:
        now = time.perf_counter()
        with self.lock:
            self.arrivals[camera].append((msg.header.stamp.nanosec, now))

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.hardware_id.endswith("/backend"):
                with self.lock:
                    self.backend = {kv.key: kv.value for kv in status.values}

    def publish_all(self, index: int) -> None:
        self.sent[index] = time.perf_counter()
        for pub, msg in zip(self.pubs, self.msgs, strict=False):
            msg.header.stamp.sec, msg.header.stamp.nanosec = 1, index
            pub.publish(msg)

    def ready(self, timeout: float = 60.0) -> bool:
        """Every camera matched and answering."""
        deadline = time.monotonic() + timeout
        index = 1
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self.pubs):
                self.publish_all(index)
                index += 1
                time.sleep(0.3)
                with self.lock:
                    if all(self.arrivals[k] for k in range(len(self.pubs))):
                        return True
            else:
                time.sleep(0.1)
        return False

    def wait_unmatched(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p.get_subscription_count() for p in self.pubs):
            time.sleep(0.05)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def _start(model: Path, mode: str, cameras: int, env: dict[str, str],
           logdir: Path) -> list[subprocess.Popen]:
    base = [sys.executable, "-m", "mtl_perception.ros.perception_node", "--ros-args",
            "-p", f"model_path:={model}", "-p", "backend:=onnxruntime",
            "-p", "diagnostics_period:=0.5"]
    names = [f"cam{k}" for k in range(cameras)]
    if mode == "multi":
        cmds = [[*base, "-r", f"__ns:={NS}", "-p", f"cameras:=[{', '.join(names)}]"]]
    else:
        cmds = [[*base, "-r", f"__ns:={NS}/{n}"] for n in names]
    procs = []
    for i, cmd in enumerate(cmds):
        with (logdir / f"{mode}{cameras}_{i}.log").open("w") as log:
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))
    return procs


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(subprocess.signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cell(probe: MultiProbe, procs: list[subprocess.Popen], rate: float, seconds: float,
          start: int) -> dict:
    n = len(probe.pubs)
    with probe.lock:
        probe.arrivals.clear()
        sizes0 = {k: int(v) for k, v in probe.backend.items() if k.startswith("batch_size_")}
    cpu0, t0 = sum(cpu_seconds(p.pid) for p in procs), time.perf_counter()
    count = int(rate * seconds)
    for i in range(count):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        probe.publish_all(start + i)
    time.sleep(1.5)  # the last outputs, and one diagnostics period
    wall = time.perf_counter() - t0
    cpu = (sum(cpu_seconds(p.pid) for p in procs) - cpu0) / wall * 100.0
    with probe.lock:
        arrivals = {k: [(i, t) for i, t in probe.arrivals[k] if start <= i < start + count]
                    for k in range(n)}
        sizes1 = {k: int(v) for k, v in probe.backend.items() if k.startswith("batch_size_")}
    per_camera = [len(arrivals[k]) / seconds for k in range(n)]
    latencies = np.array([(t - probe.sent[i]) * 1e3 for k in range(n) for i, t in arrivals[k]])
    sizes = {int(k.rsplit("_", 1)[1]): sizes1[k] - sizes0.get(k, 0) for k in sizes1
             if sizes1[k] - sizes0.get(k, 0) > 0}
    mean = float(np.mean(per_camera))
    return {
        "rate_hz": rate, "published_per_camera": count,
        "rss_mb": sum(rss_mb(p.pid) for p in procs), "cpu_percent": cpu,
        "outputs_per_s": per_camera, "total_outputs_per_s": float(sum(per_camera)),
        "min_camera_vs_mean": min(per_camera) / mean if mean > 0 else 0.0,
        "latency_p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        "latency_p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else float("nan"),
        "batch_sizes": dict(sorted(sizes.items())),
    }


def run(args: argparse.Namespace) -> dict:
    from mtl_perception.ros.dds_env import dds_env

    env = dds_env()
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.update({k: v for k, v in env.items()
                       if k.startswith("FASTDDS_") or k == "ROS_AUTOMATIC_DISCOVERY_RANGE"})
    workdir = Path(tempfile.mkdtemp(prefix="mtl_bench_cameras_"))
    model = Path(args.model) if args.model else build_random_model(workdir / "random_dyn.onnx",
                                                                   dynamic=True)
    cells = []
    index = 1000
    for cameras in args.cameras:
        probe = MultiProbe(cameras)
        try:
            for mode in ("multi", "single"):
                procs = _start(model, mode, cameras, env, workdir)
                try:
                    if not probe.ready():
                        raise RuntimeError(f"{mode} x{cameras} never answered; see {workdir}")
                    for rate in args.rates:
                        cell = _cell(probe, procs, rate, args.seconds, index)
                        index += 100000
                        cell.update(mode=mode, cameras=cameras, processes=len(procs))
                        cells.append(cell)
                        print(json.dumps(cell), file=sys.stderr, flush=True)
                finally:
                    _stop(procs)
                    probe.wait_unmatched()
        finally:
            probe.close()
    return {"model": str(model), "seconds": args.seconds, "cells": cells,
            "logs": str(workdir), "targets": targets(cells, max(args.cameras))}


def targets(cells: list[dict], n: int) -> dict:
    """The three targets at the largest N, per rate."""
    out = {}
    for rate in sorted({c["rate_hz"] for c in cells}):
        multi = next((c for c in cells if c["cameras"] == n and c["rate_hz"] == rate
                      and c["mode"] == "multi"), None)
        single = next((c for c in cells if c["cameras"] == n and c["rate_hz"] == rate
                       and c["mode"] == "single"), None)
        if multi is None or single is None:
            continue
        rss = multi["rss_mb"] / single["rss_mb"]
        throughput = multi["total_outputs_per_s"] / max(single["total_outputs_per_s"], 1e-9)
        out[f"{rate:g}"] = {"rss_ratio": rss, "rss_ok": rss <= 0.5,
                            "throughput_ratio": throughput, "throughput_ok": throughput >= 1.0,
                            "min_camera_vs_mean": multi["min_camera_vs_mean"],
                            "fairness_ok": multi["min_camera_vs_mean"] >= 0.8}
    return out


def to_markdown(result: dict, command: str, machine: str) -> str:
    lines = [
        "## Many cameras, one model (`mtl-bench cameras`)", "",
        f"`{command}` on {machine}, {time.strftime('%Y-%m-%d %H:%M')}. 1280x720 bgr8 per "
        f"camera, all cameras on the same tick, {result['seconds']:g} s per cell; one "
        "multi-camera node (`cameras:=[cam0, ...]`) vs N single-camera nodes, the same "
        "dynamic-batch random-weight model (384x640), ONNX Runtime CPU, default threads. "
        "Latency: publish -> lane mask received; CPU: node processes, 100 % = one core.", "",
        "| N | Hz | setup | processes | total RSS (MB) | outputs/s total | per camera "
        "(min-max) | min/mean | latency p50 / p99 (ms) | CPU % | batch sizes run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["cells"]:
        rates = c["outputs_per_s"]
        batches = ", ".join(f"{k}: {v}" for k, v in c["batch_sizes"].items()) \
            if c["mode"] == "multi" else "1 (one per node)"
        lines.append(
            f"| {c['cameras']} | {c['rate_hz']:g} | {c['mode']} | {c['processes']} | "
            f"{c['rss_mb']:.0f} | {c['total_outputs_per_s']:.1f} | "
            f"{min(rates):.1f}-{max(rates):.1f} | {c['min_camera_vs_mean']:.2f} | "
            f"{c['latency_p50_ms']:.0f} / {c['latency_p99_ms']:.0f} | "
            f"{c['cpu_percent']:.0f} | {batches} |")
    lines += ["", "Targets at the largest N (multi-camera node vs the N nodes):", ""]
    for rate, t in result["targets"].items():
        def mark(ok: bool) -> str:
            return "met" if ok else "**not met**"
        lines.append(
            f"- {rate} Hz: RSS {t['rss_ratio']:.2f}x (<= 0.5x: {mark(t['rss_ok'])}); total "
            f"outputs/s {t['throughput_ratio']:.2f}x (>= 1x: {mark(t['throughput_ok'])}); "
            f"slowest camera {t['min_camera_vs_mean']:.2f}x the mean "
            f"(>= 0.8x: {mark(t['fairness_ok'])})")
    return "\n".join(lines) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cameras", nargs="+", type=positive_int, default=[1, 2, 4], metavar="N")
    p.add_argument("--rates", nargs="+", type=positive_float, default=[10.0, 30.0],
                   metavar="HZ")
    p.add_argument("--seconds", type=positive_float, default=12.0, help="per cell")
    p.add_argument("--model", default=None, help="a dynamic-batch ONNX model (default: random)")
    add_out(p, help="markdown file to write")
    add_json(p)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-bench cameras", description=__doc__.split("\n")[0])
    add_arguments(p)
    return p


def execute(args: argparse.Namespace) -> str:
    from mtl_perception.devtools.bench.common import BenchError, machine

    try:
        result = run(args)
    except RuntimeError as exc:
        raise BenchError(f"cameras: {exc}") from exc
    text = to_markdown(result, args.command, machine())
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Benchmarks: many cameras, one model\n\n"
                            "Written by `mtl-bench cameras` (also part of `mtl-bench all`); "
                            "see [benchmarks.md](benchmarks.md) for the other tables.\n\n"
                            + text)
    write_json(args.json, result)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command = "mtl-bench cameras " + " ".join(argv)
    execute(args)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("mtl-bench cameras", main))
