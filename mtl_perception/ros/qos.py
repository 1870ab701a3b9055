"""QoS profiles from parameters.

The input default (reliable, keep-last 1) comes from measurement on these machines (see
docs/parameters.md): 720p at 30 Hz over Fast DDS with LARGE_DATA, two processes, CPU busy,
delivered 150/150 frames reliable but 0-8/150 best effort. Depth 1 keeps only the newest
frame, so reliability never builds a backlog. Cameras that publish best effort
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
