"""`mtl-bench qos`: which input QoS delivers 720p camera frames, measured over real Fast DDS.

The node's default input QoS (config/perception.yaml) is chosen from this table. For each
(publisher, subscriber) QoS pair, one process publishes 1280x720 bgr8 frames at a fixed rate
and another subscribes; both are fresh processes with the package's DDS environment (the
LARGE_DATA transport unless FASTDDS_BUILTIN_TRANSPORTS says otherwise, and the writer
profile). ``--cpu-load N`` runs N busy processes alongside, as a camera machine that also
runs inference is busy. A pair whose QoS is incompatible (a
best-effort writer and a reliable reader) never matches, and the table says so.

    mtl-bench qos [--rate 30] [--frames 150] [--cpu-load 2] [--pairs reliable:reliable:1 ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_json,
    add_out,
    add_size,
    positive_float,
    positive_int,
    run_cli,
    write_json,
)
from mtl_perception.ros.dds_env import dds_env
from mtl_perception.ros.ros_args import split_ros_args
from mtl_perception.ros.shutdown import ShutdownSignals

TOPIC = "bench_qos/image"
# publisher reliability : subscriber reliability : subscriber depth. The publisher is a camera
# driver (reliable is the ROS default, best effort is SensorDataQoS) or `ros2 bag play`
# (reliable), with keep-last 5.
DEFAULT_PAIRS = ("reliable:reliable:1", "reliable:reliable:10", "reliable:best_effort:1",
                 "best_effort:best_effort:1", "best_effort:reliable:1")
PUBLISHER_DEPTH = 5


@dataclass(frozen=True)
class Pair:
    publisher: str
    subscriber: str
    depth: int

    @classmethod
    def parse(cls, text: str) -> Pair:
        parts = text.split(":")
        if len(parts) != 3 or any(p not in ("reliable", "best_effort") for p in parts[:2]) \
                or not parts[2].isdigit() or int(parts[2]) < 1:
            raise ValueError(f"bad QoS pair {text!r}: use PUB:SUB:DEPTH, e.g. "
                             "reliable:best_effort:1 (reliabilities: reliable, best_effort)")
        return cls(parts[0], parts[1], int(parts[2]))

    def label(self) -> tuple[str, str]:
        return (f"{self.publisher.replace('_', ' ')}, depth {PUBLISHER_DEPTH}",
                f"{self.subscriber.replace('_', ' ')}, depth {self.depth}")


def _qos(reliability: str, depth: int) -> Any:
    from mtl_perception.ros.qos import make_qos

    return make_qos(reliability, depth)


# ----- the two roles, each in its own process -------------------------------------------
def run_publisher(reliability: str, rate: float, frames: int, width: int, height: int,
                  match_timeout: float, ros_args: list[str] | None = None) -> dict[str, Any]:
    """Wait for a matched reader, publish ``frames`` stamped with their send time, linger.

    Ctrl-C or SIGTERM (any number) ends it early and cleanly: what was sent is reported."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image

    signals = ShutdownSignals().install()  # before rclpy.init, so rclpy's handler chains to it
    node = None
    matched = False
    sent = 0
    try:
        rclpy.init(args=ros_args or [], signal_handler_options=SignalHandlerOptions.ALL)
        node = rclpy.create_node("bench_qos_publisher")
        pub = node.create_publisher(Image, TOPIC, _qos(reliability, PUBLISHER_DEPTH))
        deadline = time.monotonic() + match_timeout
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        matched = pub.get_subscription_count() > 0
        if matched:
            time.sleep(0.5)  # let discovery settle on both sides before the first frame
            msg = Image(encoding="bgr8", height=height, width=width, step=width * 3)
            frame = np.zeros((height, width, 3), np.uint8)
            frame[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)
            msg.data = frame.tobytes()
            msg.header.frame_id = "bench_qos_camera"
            t0 = time.perf_counter()
            for i in range(frames):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                now = time.time_ns()
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
                pub.publish(msg)
                sent += 1
            time.sleep(1.0)  # reliable re-sends still in flight
    except (KeyboardInterrupt, Exception) as exc:
        if not signals.absorbs(exc):
            raise
    finally:
        signals.disarm()  # ignore SIGINT/SIGTERM: teardown and exit run to the end
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return {"matched": matched, "sent": sent}


def run_subscriber(reliability: str, depth: int, timeout: float,
                   ros_args: list[str] | None = None) -> dict[str, Any]:
    """Count frames until the publisher has come and gone; latency from the send stamps.

    Ctrl-C or SIGTERM (any number) ends it early and cleanly: what came is reported."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image

    signals = ShutdownSignals().install()  # before rclpy.init, so rclpy's handler chains to it
    node = None
    executor = None
    latencies: list[float] = []

    def on_image(msg: Image) -> None:
        sent_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        latencies.append((time.time_ns() - sent_ns) / 1e6)

    try:
        rclpy.init(args=ros_args or [], signal_handler_options=SignalHandlerOptions.ALL)
        node = rclpy.create_node("bench_qos_subscriber")
        node.create_subscription(Image, TOPIC, on_image, _qos(reliability, depth))
        with signals.deferred():  # an executor interrupted in __init__ fails in __del__
            executor = SingleThreadedExecutor()
        executor.add_node(node)
        seen_publisher = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            present = node.count_publishers(TOPIC) > 0
            seen_publisher = seen_publisher or present
            if seen_publisher and not present:
                break
    except (KeyboardInterrupt, Exception) as exc:
        if not signals.absorbs(exc):
            raise
    finally:
        signals.disarm()  # ignore SIGINT/SIGTERM: teardown and exit run to the end
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    lat = np.array(latencies)
    return {"received": len(latencies),
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else None}


# ----- orchestration ---------------------------------------------------------------------
def _role(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mtl_perception.devtools.bench.qos", *argv],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen, timeout: float, role: str) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"the {role} process did not finish in {timeout:.0f} s") from None
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the {role} process failed (exit {proc.returncode}): {tail}")
    return dict(json.loads(lines[-1]))


def _busy_loops(n: int) -> list[subprocess.Popen]:
    """N processes that spin, bounded in time, to reproduce a busy camera machine."""
    code = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def measure_pair(pair: Pair, args: argparse.Namespace) -> dict[str, Any]:
    env = dds_env()
    duration = args.frames / args.rate
    sub_timeout = args.match_timeout + duration + 10.0
    sub = _role(["--role", "subscriber", "--reliability", pair.subscriber,
                 "--depth", str(pair.depth), "--timeout", str(sub_timeout)], env)
    pub = _role(["--role", "publisher", "--reliability", pair.publisher,
                 "--rate", str(args.rate), "--frames", str(args.frames),
                 "--size", f"{args.size[0]}x{args.size[1]}",
                 "--match-timeout", str(args.match_timeout)], env)
    try:
        pub_result = _result(pub, sub_timeout + 15.0, "publisher")
        sub_result = _result(sub, sub_timeout + 15.0, "subscriber")
    finally:  # a failed publisher must not leave its subscriber waiting
        for proc in (pub, sub):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {"publisher": pair.publisher, "subscriber": pair.subscriber, "depth": pair.depth,
            **pub_result, **sub_result}


def run_qos_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    pairs = [Pair.parse(p) for p in args.pairs]
    load = _busy_loops(args.cpu_load)
    try:
        rows = [measure_pair(p, args) for p in pairs]
    finally:
        for proc in load:
            proc.kill()
            proc.wait()
    return {"rate_hz": args.rate, "frames": args.frames, "width": args.size[1],
            "height": args.size[0], "cpu_load": args.cpu_load,
            "transports": dds_env()["FASTDDS_BUILTIN_TRANSPORTS"], "rows": rows}


def to_markdown(result: dict[str, Any], command: str, machine: str, started: str) -> str:
    lines = [
        "## qos: input QoS for 720p camera frames over Fast DDS", "",
        f"Command: `{command}`  ",
        f"Machine: {machine}  ",
        f"Run: {started}", "",
        f"{result['width']}x{result['height']} bgr8 at {result['rate_hz']:g} Hz, "
        f"{result['frames']} frames per pair, publisher and subscriber in separate fresh "
        f"processes, `FASTDDS_BUILTIN_TRANSPORTS={result['transports']}` and "
        f"`config/fastdds_profile.xml`; "
        f"{result['cpu_load']} busy-loop process(es) running alongside.", "",
        "| publisher | subscriber | delivered | latency p50 / p99 (ms) |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        pub, sub = Pair(r["publisher"], r["subscriber"], r["depth"]).label()
        if not r["matched"]:
            lines.append(f"| {pub} | {sub} | no match (incompatible QoS) | |")
            continue
        lat = (f"{r['latency_p50_ms']:.1f} / {r['latency_p99_ms']:.1f}"
               if r["latency_p50_ms"] is not None else "")
        lines.append(f"| {pub} | {sub} | {r['received']}/{r['sent']} | {lat} |")
    return "\n".join(lines) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=positive_float, default=30.0, help="frames per second")
    p.add_argument("--frames", type=positive_int, default=150, help="frames per QoS pair")
    add_size(p, "--size", default=(720, 1280), help="camera frame size")
    p.add_argument("--cpu-load", type=int, default=0, help="busy processes alongside")
    p.add_argument("--pairs", nargs="+", type=_pair, default=list(DEFAULT_PAIRS),
                   metavar="PUB:SUB:DEPTH")
    p.add_argument("--match-timeout", type=positive_float, default=10.0,
                   help="seconds the publisher waits for a compatible reader")
    add_out(p, help="write the markdown section here")
    add_json(p)
    # the two worker roles (started by this tool itself)
    p.add_argument("--role", choices=("publisher", "subscriber"), help=argparse.SUPPRESS)
    p.add_argument("--reliability", help=argparse.SUPPRESS)
    p.add_argument("--depth", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=60.0, help=argparse.SUPPRESS)


def _pair(text: str) -> str:
    """``--pairs`` items are checked while parsing, so a bad one is a one-line usage error."""
    try:
        Pair.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-bench qos", description=__doc__.split("\n")[0])
    add_arguments(p)
    return p


def execute(args: argparse.Namespace) -> str:
    """The benchmark for parsed arguments (or one worker role); returns the Markdown."""
    ros = getattr(args, "ros_args", [])
    if args.role == "publisher":
        print(json.dumps(run_publisher(args.reliability, args.rate, args.frames, args.size[1],
                                       args.size[0], args.match_timeout, ros)), flush=True)
        return ""
    if args.role == "subscriber":
        print(json.dumps(run_subscriber(args.reliability, args.depth, args.timeout, ros)),
              flush=True)
        return ""
    from mtl_perception.devtools.bench.common import BenchError, machine

    started = time.strftime("%Y-%m-%d %H:%M")
    try:
        result = run_qos_benchmark(args)
    except (RuntimeError, ValueError, OSError) as exc:
        raise BenchError(f"qos: {exc}") from exc
    text = to_markdown(result, args.command, machine(), started)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    write_json(args.json, result)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, ros = split_ros_args(argv)  # the roles' rclpy gets only the --ros-args sections
    args = build_parser().parse_args(own)
    args.ros_args = ros
    args.command = "mtl-bench qos " + " ".join(own)
    execute(args)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("mtl-bench qos", main))
