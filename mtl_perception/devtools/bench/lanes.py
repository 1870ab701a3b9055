"""`mtl-bench lanes`: the node's overhead in this environment and another, interleaved.

Why: the node must cost the same on ROS 2 Jazzy (the Jazzy test lane's ``.venv-jazzy``:
CPython 3.12, Fast DDS 2.14) as in the main environment (CPython 3.11, Kilted wheels). On
this noisy 2-core machine only a side-by-side run says that: the overhead phase of
``mtl-bench node`` runs on a fresh node from each environment in turn (main, other, main,
other, ...), fed and measured by one probe in this process, and the table reports the
median of each and their ratio.

    mtl-bench lanes --venv .venv-jazzy --label jazzy
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_json,
    add_out,
    positive_int,
    run_cli,
    write_json,
)
from mtl_perception.devtools.bench.common import BenchError, machine
from mtl_perception.devtools.bench.node import _overhead_on_fresh_node
from mtl_perception.devtools.bench.probes import Probe
from mtl_perception.devtools.onnx_models import build_random_model
from mtl_perception.ros.dds_env import PROFILE_VARIABLES, apply_profile, dds_env
from mtl_perception.ros.ros_args import split_ros_args

# What a venv's Python sets for itself (the ROS wheels re-exec with their own library path,
# each Fast DDS picks its own profile variable); a child of another venv must not inherit it.
_PER_VENV = ("LD_LIBRARY_PATH", "PYTHONPATH", "_ROS_WHEELS_BOOTSTRAP_COMPLETE",
             *PROFILE_VARIABLES)
TARGET_RATIO = 1.10


def child_env() -> dict[str, str]:
    env = {k: v for k, v in dds_env().items() if k not in _PER_VENV}
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return env


def run(args: argparse.Namespace) -> dict:
    other = Path(args.venv) / "bin" / "perception_node"
    if not other.is_file():
        raise RuntimeError(f"{other} does not exist; build that environment first "
                           f"(e.g. make setup-jazzy)")
    lanes = {"main": Path(sys.executable).with_name("perception_node"), args.label: other}
    apply_profile(os.environ)  # the probe's own writers
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    workdir = Path(tempfile.mkdtemp(prefix="mtl_bench_lanes_"))
    model = Path(args.model) if args.model else build_random_model(workdir / "random.onnx")
    runs: dict[str, list[dict]] = {name: [] for name in lanes}
    probe = Probe("/bench", args.ros_args)
    try:
        for repeat in range(args.repeats):
            for name, exe in lanes.items():
                log = workdir / f"node_{name}_{repeat}.log"
                runs[name].append(_overhead_on_fresh_node(probe, model, args, child_env(), log,
                                                          None, exe))
    finally:
        probe.close()
    return {"model": str(model), "lanes": {n: str(e) for n, e in lanes.items()}, "runs": runs}


def to_markdown(result: dict, command: str) -> str:
    med = {name: {key: float(np.median([r[key] for r in runs])) for key in
                  ("node_overhead_ms_p50", "backend_ms_p50", "end_to_end_ms_p50")}
           for name, runs in result["runs"].items()}
    main, other = list(med)
    ratio = med[other]["node_overhead_ms_p50"] / med[main]["node_overhead_ms_p50"]
    lines = ["## Node overhead per environment (`mtl-bench lanes`)", "",
             f"Command: `{command}`", "",
             "| environment | node | overhead p50 (ms), median of runs | runs (ms) | "
             "backend p50 (ms) | end-to-end p50 (ms) |", "|---|---|---|---|---|---|"]
    for name, runs in result["runs"].items():
        each = ", ".join(f"{r['node_overhead_ms_p50']:.2f}" for r in runs)
        lines.append(f"| {name} | `{result['lanes'][name]}` | "
                     f"{med[name]['node_overhead_ms_p50']:.2f} | {each} | "
                     f"{med[name]['backend_ms_p50']:.1f} | {med[name]['end_to_end_ms_p50']:.1f} |")
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    lines += ["", f"Ratio {other} / {main} (node overhead): **{ratio:.2f}** (target <= "
              f"{TARGET_RATIO:.2f}: {verdict}). Runs were interleaved, a fresh node each.", ""]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--venv", required=True, help="the other environment (e.g. .venv-jazzy)")
    p.add_argument("--label", default="other", help="its name in the table")
    p.add_argument("--model", default=None, help="exported ONNX (default: random 384x640)")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    p.add_argument("--repeats", type=positive_int, default=3,
                   help="overhead phases per environment")
    p.add_argument("--overhead-rate", type=float, default=5.0)
    p.add_argument("--overhead-seconds", type=float, default=20.0)
    add_out(p, help="write the markdown file here")
    add_json(p)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-bench lanes", description=__doc__.split("\n")[0])
    add_arguments(p)
    return p


def execute(args: argparse.Namespace) -> str:
    try:
        result = run(args)
    except (RuntimeError, OSError) as exc:
        raise BenchError(f"lanes: {exc}") from exc
    text = to_markdown(result, args.command)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            "# Benchmarks: node overhead per environment\n\nWritten by `mtl-bench lanes` (also "
            "part of `mtl-bench all`); see [benchmarks.md](benchmarks.md) for the other "
            f"tables.\n\nMachine: {machine()}, {time.strftime('%Y-%m-%d %H:%M')}.\n\n" + text)
    write_json(args.json, result)
    return text


def main(argv: list[str] | None = None) -> int:
    """``mtl-bench lanes ...`` on its own; ROS arguments go to the probe's rclpy only."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own, ros = split_ros_args(argv)
    args = build_parser().parse_args(own)
    args.ros_args = ros
    args.command = "mtl-bench lanes " + shlex.join(own)
    execute(args)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("mtl-bench lanes", main))
