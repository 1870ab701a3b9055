"""Fixture process: publishes a known Detection2DArray until killed (used by the DDS tests)."""

from __future__ import annotations

import sys
import time

import rclpy
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose


def build_message() -> Detection2DArray:
    msg = Detection2DArray()
    msg.header.frame_id = "camera_front"
    msg.header.stamp.sec = 1234
    msg.header.stamp.nanosec = 5678
    for index, (cls, score, cx, cy, w, h) in enumerate(
        [("car", 0.9, 100.5, 200.25, 50.0, 30.0), ("pedestrian", 0.4, 640.0, 360.0, 12.0, 40.0)]
    ):
        det = Detection2D()
        det.header = msg.header
        det.id = str(index)
        det.bbox.center.position.x = cx
        det.bbox.center.position.y = cy
        det.bbox.size_x = w
        det.bbox.size_y = h
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = cls
        hyp.hypothesis.score = score
        det.results.append(hyp)
        msg.detections.append(det)
    return msg


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("dds_fixture_publisher")
    pub = node.create_publisher(Detection2DArray, sys.argv[1] if len(sys.argv) > 1 else "dets", 10)
    msg = build_message()
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        pub.publish(msg)
        time.sleep(0.1)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
