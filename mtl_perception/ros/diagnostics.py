"""Per-stage latency, frame rate and drop/reject counters, published as /diagnostics.

Windows are bounded ring buffers, so memory stays flat however long the node runs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


class StageStats:
    """Latency samples (ms) of the last ``window`` frames, per stage, thread-safe."""

    def __init__(self, window: int = 300) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._samples: dict[str, deque[float]] = {}
        self._done: deque[float] = deque(maxlen=window)
        self.processed = 0
        self.rejected: Counter[str] = Counter()
        self.failed = 0
        self.received = 0

    def record(self, timings_ms: dict[str, float]) -> None:
        with self._lock:
            self.processed += 1
            self._done.append(time.monotonic())
            for stage, value in timings_ms.items():
                ring = self._samples.get(stage)
                if ring is None:
                    ring = self._samples[stage] = deque(maxlen=self.window)
                ring.append(value)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def fail(self) -> None:
        with self._lock:
            self.failed += 1

    def rate_hz(self) -> float:
        with self._lock:
            if len(self._done) < 2:
                return 0.0
            span = self._done[-1] - self._done[0]
            return (len(self._done) - 1) / span if span > 0 else 0.0

    def percentiles(self, q: tuple[float, ...] = (50.0, 99.0)) -> dict[str, list[float]]:
        with self._lock:
            data = {k: np.fromiter(v, float) for k, v in self._samples.items() if v}
        return {k: np.percentile(v, q).tolist() for k, v in data.items()}


class BatchStats:
    """The shared backend's batches: how many of each size, and inference ms per size."""

    def __init__(self, window: int = 300) -> None:
        self.window = window
        self._lock = threading.Lock()
        self.sizes: Counter[int] = Counter()
        self._ms: dict[int, deque[float]] = {}

    def record(self, size: int, inference_ms: float) -> None:
        with self._lock:
            self.sizes[size] += 1
            ring = self._ms.get(size)
            if ring is None:
                ring = self._ms[size] = deque(maxlen=self.window)
            ring.append(inference_ms)

    def status(self, name: str, hardware_id: str, extra: dict[str, str]) -> DiagnosticStatus:
        """Keys: ``batches``, ``batch_size_<n>`` (count), ``batch_<n>_inference_ms_p50/p99``
        and ``frames_per_batch_mean``, then ``extra``."""
        with self._lock:
            sizes = dict(self.sizes)
            ms = {k: np.fromiter(v, float) for k, v in self._ms.items() if v}
        total = sum(sizes.values())
        values = {"batches": str(total)}
        for size in sorted(sizes):
            values[f"batch_size_{size}"] = str(sizes[size])
        for size in sorted(ms):
            p50, p99 = np.percentile(ms[size], (50.0, 99.0)).tolist()
            values[f"batch_{size}_inference_ms_p50"] = f"{p50:.3f}"
            values[f"batch_{size}_inference_ms_p99"] = f"{p99:.3f}"
        frames = sum(k * v for k, v in sizes.items())
        values["frames_per_batch_mean"] = f"{frames / total:.2f}" if total else "0"
        values.update(extra)
        status = DiagnosticStatus(name=name, hardware_id=hardware_id)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        status.level = DiagnosticStatus.OK
        status.message = f"{total} batches, {frames} frames"
        return status


def build_status(
    name: str, hardware_id: str, stats: StageStats, dropped: int, extra: dict[str, str]
) -> DiagnosticArray:
    """A DiagnosticArray with the one status of :func:`make_status`."""
    array = DiagnosticArray()
    array.status = [make_status(name, hardware_id, stats, dropped, extra)]
    return array


def make_status(
    name: str, hardware_id: str, stats: StageStats, dropped: int, extra: dict[str, str]
) -> DiagnosticStatus:
    """One camera's status: OK while frames flow, WARN when frames fail or none arrive."""
    status = DiagnosticStatus(name=name, hardware_id=hardware_id)
    rate = stats.rate_hz()
    values = {"rate_hz": f"{rate:.2f}", "frames_received": str(stats.received),
              "frames_processed": str(stats.processed), "frames_dropped": str(dropped),
              "frames_rejected": str(sum(stats.rejected.values())),
              "frames_failed": str(stats.failed)}
    for reason, count in sorted(stats.rejected.items()):
        values[f"rejected_{reason}"] = str(count)
    for stage, (p50, p99) in sorted(stats.percentiles().items()):
        values[f"{stage}_ms_p50"] = f"{p50:.3f}"
        values[f"{stage}_ms_p99"] = f"{p99:.3f}"
    values.update(extra)
    status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
    if stats.failed:
        status.level, status.message = DiagnosticStatus.WARN, f"{stats.failed} frames failed"
    elif stats.processed == 0:
        status.level, status.message = DiagnosticStatus.WARN, "no frames processed yet"
    else:
        status.level, status.message = DiagnosticStatus.OK, f"{rate:.1f} Hz"
    return status
