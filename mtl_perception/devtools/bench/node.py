"""`mtl-bench node`: the perception node under load, measured through real DDS.

Two measurements:
  * node overhead: 1280x720 bgr8 in, ONNX Runtime CPU; per frame, end-to-end (message
    received -> all outputs published) minus the backend's own time, median over the run
    (from the node's /diagnostics ``overhead_ms_p50``); the phase runs ``--overhead-repeats``
    times (a fresh node each after the first) and the headline is the median run;
  * load: frames published at fixed rates (10/30/60 Hz by default; 30 Hz for 60 s is the
    sustained-load row): delivered rate, missed and dropped frames, latency (publish ->
    last output received) min/mean/p50/p99/max, jitter (std of output intervals), node
    CPU % and resident memory at the start and end.

The node runs as a separate process (the installed ``perception_node``); this process
publishes and receives. Without ``--model`` a random-weight ONNX model with the contract's
I/O at 384x640 is built with onnx.helper (no torch; devtools/onnx_models.py).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_json,
    add_out,
    positive_float,
    positive_int,
    run_cli,
    write_json,
)
from mtl_perception.devtools.bench.common import BenchError, machine, run_line
from mtl_perception.devtools.bench.node_report import (
    PUBLICATION_MODES,
    SPINNING_MODES,
    meets_target,
    summarize_overhead,
    to_markdown,
)
from mtl_perception.devtools.bench.probes import H, Probe, W, run_rate
from mtl_perception.devtools.onnx_models import build_random_model
from mtl_perception.ros.ros_args import split_ros_args


def _start_node(model: Path, threads: int, env: dict[str, str], log_path: Path,
                spinning: str | None = None, executable: Path | None = None) -> subprocess.Popen:
    script = executable or Path(sys.executable).with_name("perception_node")
    node_cmd = [str(script), "--ros-args", "-r", "__ns:=/bench", "-p", f"model_path:={model}",
                "-p", "backend:=onnxruntime", "-p", f"onnxruntime_threads:={threads}",
                "-p", "diagnostics_period:=0.5"]
    if spinning is not None:
        node_cmd += ["-p", f"onnxruntime_spinning:={spinning}"]
    with log_path.open("w") as log:
        return subprocess.Popen(node_cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def _stop_node(proc: subprocess.Popen) -> None:
    proc.send_signal(subprocess.signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _overhead(probe: Probe, proc: subprocess.Popen, args: argparse.Namespace) -> dict:
    """Warm up, then the low-rate overhead phase; the node's own per-stage medians."""
    with probe.lock:
        probe.arrivals.clear()
    for index in range(20):  # warm-up: at least 20 frames, until outputs come back
        probe.publish(index)
        time.sleep(0.2)
    deadline = time.monotonic() + 30.0
    while not probe.arrivals and time.monotonic() < deadline:
        probe.publish(999)
        time.sleep(0.2)
    if not probe.arrivals:
        raise RuntimeError("the node answered none of the warm-up frames")
    with probe.lock:
        probe.diag.clear()
    phase = run_rate(probe, proc.pid, args.overhead_rate, args.overhead_seconds, 1000)
    with probe.lock:
        diag = dict(probe.diag)
    o = {
        "frames": phase["outputs"],
        "node_overhead_ms_p50": float(diag.get("overhead_ms_p50", "nan")),
        "backend_ms_p50": float(diag.get("inference_ms_p50", "nan")),
        "end_to_end_ms_p50": float(diag.get("end_to_end_ms_p50", "nan")),
        "stages_ms_p50": {k.removesuffix("_ms_p50"): float(v) for k, v in diag.items()
                          if k.endswith("_ms_p50")},
        "delivered_latency_ms_p50": phase.get("latency_p50_ms", float("nan")),
        "node_cpu_percent": phase["cpu_percent"],
    }
    o["overhead_percent_of_backend"] = 100.0 * o["node_overhead_ms_p50"] / o["backend_ms_p50"]
    o["meets_target"] = meets_target(o["node_overhead_ms_p50"], o["overhead_percent_of_backend"])
    return o


def _overhead_on_fresh_node(probe: Probe, model: Path, args: argparse.Namespace,
                            env: dict[str, str], log_path: Path,
                            spinning: str | None = None, executable: Path | None = None) -> dict:
    """Start a node with this environment and spinning mode, run the overhead phase, stop it."""
    proc = _start_node(model, args.threads, env, log_path, spinning, executable)
    try:
        if not probe.wait_matched():
            raise RuntimeError(f"the node never subscribed; see {log_path}")
        return _overhead(probe, proc, args)
    finally:
        _stop_node(proc)
        probe.wait_unmatched()


def run_node_benchmark(args: argparse.Namespace) -> dict:
    """Start the node, measure overhead and the rate table; returns all numbers.

    With ``--compare-publication-modes`` the overhead phase is repeated on a fresh node for
    each Fast DDS publication mode (RMW_FASTRTPS_PUBLICATION_MODE), one after the other in
    this run, so the two can be compared side by side.
    """
    from mtl_perception.ros.dds_env import dds_env

    env = dds_env()
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.update({k: v for k, v in env.items()
                       if k.startswith("FASTDDS_") or k == "ROS_AUTOMATIC_DISCOVERY_RANGE"})
    default_mode = env.get("RMW_FASTRTPS_PUBLICATION_MODE", "SYNCHRONOUS").upper()
    workdir = Path(tempfile.mkdtemp(prefix="mtl_bench_node_"))
    model = Path(args.model) if args.model else build_random_model(workdir / "random.onnx")
    result: dict[str, Any] = {"model": str(model), "input": f"{W}x{H} bgr8",
                              "node_log": str(workdir / "node.log"),
                              "publication_mode": default_mode,
                              "spinning": args.spinning}
    probe = Probe("/bench", getattr(args, "ros_args", None))
    try:
        proc = _start_node(model, args.threads, env, workdir / "node.log", args.spinning)
        try:
            if not probe.wait_matched():
                raise RuntimeError(f"the node never subscribed; see {workdir / 'node.log'}")
            result["overhead"] = _overhead(probe, proc, args)
            result["rates"] = []
            index = 100000
            for rate in args.rates:
                result["rates"].append(run_rate(probe, proc.pid, rate, args.rate_seconds, index))
                index += 100000
            if args.sustained_seconds > 0:
                s = run_rate(probe, proc.pid, 30.0, args.sustained_seconds, index)
                s["rss_change_percent"] = 100.0 * (s["rss_end_mb"] / s["rss_start_mb"] - 1.0)
                result["sustained_30hz"] = s
        finally:
            _stop_node(proc)
            probe.wait_unmatched()
        runs = [result["overhead"]]
        for repeat in range(2, args.overhead_repeats + 1):
            runs.append(_overhead_on_fresh_node(probe, model, args, env,
                                                workdir / f"node_repeat{repeat}.log",
                                                args.spinning))
        result["overhead_runs"] = runs
        result["overhead_summary"] = summarize_overhead(runs)
        if args.compare_publication_modes:
            result["by_publication_mode"] = {default_mode: result["overhead"]}
            for mode in (m for m in PUBLICATION_MODES if m != default_mode):
                result["by_publication_mode"][mode] = _overhead_on_fresh_node(
                    probe, model, args, {**env, "RMW_FASTRTPS_PUBLICATION_MODE": mode},
                    workdir / f"node_{mode.lower()}.log")
        if args.compare_spinning:
            result["by_spinning"] = {args.spinning: result["overhead"]}
            for other in (m for m in SPINNING_MODES if m != args.spinning):
                result["by_spinning"][other] = _overhead_on_fresh_node(
                    probe, model, args, env, workdir / f"node_spinning_{other}.log", other)
    finally:
        probe.close()
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="exported ONNX (default: random 384x640)")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    p.add_argument("--rates", type=positive_float, nargs="*", default=[10.0, 30.0, 60.0],
                   metavar="HZ")
    p.add_argument("--rate-seconds", type=positive_float, default=20.0)
    p.add_argument("--sustained-seconds", type=float, default=60.0,
                   help="the 30 Hz sustained-load run (0 skips it)")
    p.add_argument("--overhead-rate", type=positive_float, default=5.0)
    p.add_argument("--overhead-seconds", type=positive_float, default=20.0)
    p.add_argument("--overhead-repeats", type=positive_int, default=3,
                   help="overhead phases, each on a fresh node after the first; the headline "
                        "is their median (this machine's runs differ by tenths of a ms)")
    p.add_argument("--compare-publication-modes", action="store_true",
                   help="repeat the overhead phase with the other Fast DDS publication mode")
    p.add_argument("--spinning", choices=SPINNING_MODES, default="run",
                   help="the node's onnxruntime_spinning for the main run")
    p.add_argument("--compare-spinning", action="store_true",
                   help="repeat the overhead phase with the other ONNX Runtime spinning modes")
    add_out(p, help="write the markdown section here")
    add_json(p)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-bench node", description=__doc__.split("\n")[0])
    add_arguments(p)
    return p


def execute(args: argparse.Namespace) -> str:
    """Run the benchmark for parsed arguments; print, write --out / --json; returns the text."""
    started = time.time()
    try:
        result = run_node_benchmark(args)
    except (RuntimeError, OSError) as exc:
        raise BenchError(f"node: {exc}") from exc
    text = to_markdown(result, args.command, machine(), run_line(started))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    write_json(args.json, result)
    return text


def main(argv: list[str] | None = None) -> int:
    """``mtl-bench node ...`` on its own; ROS arguments go to the probe's rclpy only."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own, ros = split_ros_args(argv)
    args = build_parser().parse_args(own)
    args.ros_args = ros
    args.command = "mtl-bench node " + shlex.join(argv)
    execute(args)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("mtl-bench node", main))
