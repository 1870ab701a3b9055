"""Fixture process: publishes camera frames on command, for the perception node tests.

Reads lines ``<namespace> <kind> <stamp_sec>`` on stdin, publishes one frame of that kind
on ``/<namespace>/image`` (raw kinds) or ``/<namespace>/image/compressed`` (jpeg kinds) with
``header.stamp.sec = stamp_sec`` and ``frame_id = camera_<namespace>``, then prints
``sent <stamp_sec>``. Until told otherwise it waits for subscribers before publishing.
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

W, H = 1280, 720


def frame(value: int | None = None, w: int = W, h: int = H) -> np.ndarray:
    """A 720p BGR test picture (gradient + shapes), or a uniform one of ``value``."""
    if value is not None:
        return np.full((h, w, 3), value, np.uint8)
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    cv2.rectangle(img, (200, 100), (400, 300), (0, 0, 255), -1)
    return img


def raw(kind: str) -> Image:
    msg = Image()
    msg.encoding, msg.height, msg.width, msg.step = "bgr8", H, W, W * 3
    pixels = frame()
    if kind == "white":  # the fixture node's backend raises on this frame
        pixels = frame(255)
    elif kind == "slow":  # the fixture node's backend sleeps on this frame
        pixels = frame(100)
    elif kind == "padded":  # rgb8 with 64 bytes of row padding
        msg.encoding, msg.step = "rgb8", W * 3 + 64
        padded = np.zeros((H, W * 3 + 64), np.uint8)
        padded[:, : W * 3] = pixels[..., ::-1].reshape(H, -1)
        pixels = padded
    elif kind == "bad_step":
        msg.step = W * 3 - 3
    elif kind == "truncated":
        pixels = pixels.reshape(-1)[: W * 3 * H // 2]
    elif kind == "zero_size":
        msg.width = msg.height = msg.step = 0
        pixels = np.zeros(0, np.uint8)
    elif kind == "unsupported":
        msg.encoding = "hsv8"  # no such ROS encoding
    elif kind == "too_large":
        msg.width, msg.step = W + 16, (W + 16) * 3
        pixels = frame(w=W + 16)
    msg.data = pixels.tobytes()
    return msg


def compressed(kind: str) -> CompressedImage:
    msg = CompressedImage()
    msg.format = "bgr8; jpeg compressed bgr8"
    _ok, data = cv2.imencode(".jpg", frame(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    payload = data.tobytes()
    if kind == "jpeg_corrupt":
        payload = payload[: len(payload) // 2]
    msg.data = payload
    return msg


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("node_fixture_publisher")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pubs: dict[tuple[str, bool], object] = {}
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        ns, kind, sec = parts[0], parts[1], int(parts[2])
        is_jpeg = kind.startswith("jpeg")
        key = (ns, is_jpeg)
        if key not in pubs:
            msg_type, topic = (CompressedImage, f"/{ns}/image/compressed") if is_jpeg else (
                Image, f"/{ns}/image")
            pubs[key] = node.create_publisher(msg_type, topic, qos)
        pub = pubs[key]
        deadline = time.monotonic() + 5.0
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        msg = compressed(kind) if is_jpeg else raw(kind)
        msg.header.frame_id = f"camera_{ns}"
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, 123456789
        pub.publish(msg)
        print(f"sent {sec}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
