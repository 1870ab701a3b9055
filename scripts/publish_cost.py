"""Where the node's `publish` stage goes: building each output vs handing it to rclpy.

    .venv/bin/python scripts/publish_cost.py [N_DETECTIONS]

Publishes the node's three outputs (N detections, two 1280x720 mono8 masks) 300 times at
about 30 Hz to a subscriber in another process over Fast DDS (the node's transport
settings), and prints the median of each step side by side: the Detection2DArray as message
objects vs pre-serialized bytes (mtl_perception/ros/detections_cdr.py), and each mask's
fill and publish. Used for the publish analysis in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from mtl_perception.ros.dds_env import dds_env

SINK = """
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray
from mtl_perception.ros.qos import make_qos
rclpy.init()
node = Node("publish_cost_sink")
qos = make_qos("reliable", 1)
for kind, topic in ((Detection2DArray, "detections"), (Image, "drivable_area/mask"),
                    (Image, "lane/mask")):
    node.create_subscription(kind, topic, lambda msg: None, qos)
try:
    rclpy.spin(node)
except (ExternalShutdownException, KeyboardInterrupt):
    pass
"""


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    os.environ.update(dds_env())
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray

    from mtl_perception.inference.postprocess import Detections
    from mtl_perception.ros.conversion import ImageFiller, detections_to_msg
    from mtl_perception.ros.detections_cdr import encode_detections
    from mtl_perception.ros.qos import make_qos

    sink = subprocess.Popen([sys.executable, "-c", SINK], env=os.environ.copy())
    rclpy.init()
    node = Node("publish_cost")
    try:
        qos = make_qos("reliable", 1)
        pub_det = node.create_publisher(Detection2DArray, "detections", qos)
        pub_a = node.create_publisher(Image, "drivable_area/mask", qos)
        pub_b = node.create_publisher(Image, "lane/mask", qos)
        deadline = time.monotonic() + 60.0
        while min(p.get_subscription_count() for p in (pub_det, pub_a, pub_b)) < 1:
            if time.monotonic() > deadline:
                print("the subscriber process never matched", file=sys.stderr)
                return 1
            time.sleep(0.1)
        time.sleep(1.0)
        rng = np.random.default_rng(0)
        xy = rng.uniform(0, 1200, (count, 2))
        detections = Detections(np.concatenate([xy, xy + 50], 1).astype(np.float32),
                                rng.uniform(0.3, 1, count).astype(np.float32),
                                np.zeros(count, np.int64), ["car"] * count)
        fill_a, fill_b = ImageFiller(), ImageFiller()
        header = Header(frame_id="camera")
        steps = ("detections: build messages", "detections: publish messages",
                 "detections: encode bytes", "detections: publish bytes",
                 "drivable mask: fill", "drivable mask: publish",
                 "lane mask: fill", "lane mask: publish")
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(300):
            t = [time.perf_counter()]
            msg = detections_to_msg(header, detections)
            t.append(time.perf_counter())
            pub_det.publish(msg)
            t.append(time.perf_counter())
            raw = encode_detections(header, detections)
            t.append(time.perf_counter())
            pub_det.publish(raw)
            t.append(time.perf_counter())
            a = fill_a.fill(header, fill_a.view(720, 1280), "mono8")
            t.append(time.perf_counter())
            pub_a.publish(a)
            t.append(time.perf_counter())
            b = fill_b.fill(header, fill_b.view(720, 1280), "mono8")
            t.append(time.perf_counter())
            pub_b.publish(b)
            t.append(time.perf_counter())
            for key, start, end in zip(steps, t, t[1:], strict=False):
                times[key].append((end - start) * 1e3)
            time.sleep(0.03)
        print(f"{count} detections, two 1280x720 mono8 masks; median of 280 rounds (ms):")
        for key, values in times.items():
            print(f"  {key:30s} {np.median(values[20:]):.3f}")
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
