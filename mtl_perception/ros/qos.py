"""QoS profiles from parameters.

The input default (reliable, keep-last 1) comes from ``mtl-bench qos`` (docs/parameters.md):
720p at 30 Hz between two processes, every matching pair delivers 150/150 with Fast DDS's
LARGE_DATA transport, idle or busy, but without it a best-effort reader got 0/150 and a
reliable one still got frames. Depth 1 keeps only the newest frame, so reliability never
builds a backlog. Cameras that publish best effort
(SensorDataQoS) need ``input_qos_reliability: best_effort``; rclpy warns about the mismatch.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

RELIABILITIES = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
}


def make_qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last ``depth`` with the named reliability; ValueError on an unknown name."""
    if reliability not in RELIABILITIES:
        raise ValueError(
            f"unknown QoS reliability {reliability!r}; choose {' or '.join(RELIABILITIES)}"
        )
    if depth < 1:
        raise ValueError(f"QoS depth must be >= 1, got {depth}")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(depth),
        reliability=RELIABILITIES[reliability],
        durability=DurabilityPolicy.VOLATILE,
    )


def latched_qos() -> QoSProfile:
    """Reliable + transient local, depth 1: late subscribers still get LabelInfo."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
