"""What the node benchmarks measure with: a DDS probe, process probes, a fixed-rate driver.

* ``Probe``: a node in this process that publishes 1280x720 bgr8 frames to ``NS/image`` and
  receives the perception node's last output (``NS/lane/mask``) and its /diagnostics;
* ``rss_mb`` / ``cpu_seconds``: a process's resident memory and CPU time, from /proc;
* ``run_rate``: publish at a fixed rate for a while and return the statistics of what came
  back (delivered rate, missed and dropped frames, latency, jitter, CPU, memory).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

W, H = 1280, 720


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Probe:
    """Publishes frames, receives the node's last output and its diagnostics."""

    def __init__(self, namespace: str, ros_args: list[str] | None = None) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(args=ros_args or [], context=self.context)
        self.node = rclpy.create_node("bench_node_probe", context=self.context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.node.create_publisher(Image, f"{namespace}/image", qos)
        self.lock = threading.Lock()
        self.arrivals: list[tuple[int, float]] = []  # (frame index, receive time)
        self.diag: dict[str, str] = {}
        # lane/mask is the node's last output when nobody watches the overlay
        self.node.create_subscription(Image, f"{namespace}/lane/mask", self._on_output, qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.msg = Image(encoding="bgr8", height=H, width=W, step=W * 3)
        frame = np.zeros((H, W, 3), np.uint8)
        frame[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)
        self.msg.data = frame.tobytes()
        self.msg.header.frame_id = "bench_camera"
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.sent: dict[int, float] = {}

    def _on_output(self, msg: Any) -> None:
        now = time.perf_counter()
        with self.lock:
            self.arrivals.append((msg.header.stamp.nanosec, now))

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.hardware_id.endswith("/perception"):
                with self.lock:
                    self.diag = {kv.key: kv.value for kv in status.values}

    def publish(self, index: int) -> None:
        self.msg.header.stamp.sec, self.msg.header.stamp.nanosec = 1, index
        self.sent[index] = time.perf_counter()
        self.pub.publish(self.msg)

    def wait_matched(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pub.get_subscription_count() > 0:
                return True
            time.sleep(0.05)
        return False

    def wait_unmatched(self, timeout: float = 15.0) -> None:
        """After stopping a node: wait until DDS has noticed, so the next node is the one served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pub.get_subscription_count() > 0:
            time.sleep(0.05)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        # The spin thread must have left rclpy before the context goes, or the process
        # aborts at exit ("terminate called without an active exception", rc 134).
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def run_rate(probe: Probe, pid: int, rate: float, seconds: float, start_index: int) -> dict:
    """Publish at ``rate`` for ``seconds``; statistics of what came back."""
    with probe.lock:
        probe.arrivals.clear()
        dropped0 = int(probe.diag.get("frames_dropped", 0))
    rss0, cpu0, t0 = rss_mb(pid), cpu_seconds(pid), time.perf_counter()
    count = int(rate * seconds)
    for i in range(count):
        target = t0 + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        probe.publish(start_index + i)
    time.sleep(1.5)  # let the last frames come back, and one diagnostics period pass
    wall = time.perf_counter() - t0
    cpu = (cpu_seconds(pid) - cpu0) / wall * 100.0
    with probe.lock:
        arrivals = [(i, t) for i, t in probe.arrivals if start_index <= i < start_index + count]
        dropped = int(probe.diag.get("frames_dropped", 0)) - dropped0
    latencies = np.array([(t - probe.sent[i]) * 1e3 for i, t in arrivals])
    times = np.sort(np.array([t for _, t in arrivals]))
    intervals = np.diff(times) * 1e3
    out = {"rate_hz": rate, "seconds": seconds, "published": count, "outputs": len(arrivals),
           "missed": count - len(arrivals), "dropped_in_node": dropped,
           "outputs_per_s": len(arrivals) / seconds, "cpu_percent": cpu,
           "rss_start_mb": rss0, "rss_end_mb": rss_mb(pid),
           "jitter_ms": float(intervals.std()) if len(intervals) > 1 else float("nan")}
    if len(latencies):
        out.update({"latency_min_ms": float(latencies.min()),
                    "latency_mean_ms": float(latencies.mean()),
                    "latency_p50_ms": float(np.percentile(latencies, 50)),
                    "latency_p99_ms": float(np.percentile(latencies, 99)),
                    "latency_max_ms": float(latencies.max())})
    return out
