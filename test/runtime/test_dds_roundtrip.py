"""Generated vision_msgs travel between two processes over real Fast DDS."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from vision_msgs.msg import Detection2DArray  # noqa: E402

pytestmark = pytest.mark.ros

FIXTURES = Path(__file__).resolve().parents[1]  # the shared fixtures live in test/


def test_detection_array_crosses_processes() -> None:
    publisher = subprocess.Popen(
        [sys.executable, str(FIXTURES / "dds_fixture_publisher.py"), "dets"]
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    received: list[Detection2DArray] = []
    try:
        node = rclpy.create_node("dds_roundtrip_receiver", context=context)
        node.create_subscription(Detection2DArray, "dets", received.append, 10)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 20.0
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        publisher.kill()
        publisher.wait()

    assert received, "no Detection2DArray arrived within 20 s"
    msg = received[0]
    assert msg.header.frame_id == "camera_front"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1234, 5678)
    assert len(msg.detections) == 2
    first, second = msg.detections
    assert first.id == "0" and second.id == "1"
    assert first.results[0].hypothesis.class_id == "car"
    assert first.results[0].hypothesis.score == pytest.approx(0.9)
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (100.5, 200.25)
    assert (first.bbox.size_x, first.bbox.size_y) == (50.0, 30.0)
    assert second.results[0].hypothesis.class_id == "pedestrian"
    assert (second.bbox.size_x, second.bbox.size_y) == (12.0, 40.0)
