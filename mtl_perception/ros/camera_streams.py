"""One camera's topics, newest-frame slot, counters and publishing, for the perception node.

A node serves one :class:`CameraStream` per entry of its ``cameras`` parameter: camera ``X``
subscribes to ``X/image`` (or ``X/image/compressed``) and publishes ``X/detections``,
``X/drivable_area/mask``, ``X/lane/mask`` and ``X/overlay``. With no ``cameras`` the node has
one stream named ``""`` whose topics are today's ``image``, ``detections``, ...

The subscription callback only decodes a frame and drops it into the camera's slot. Hand-off:
when the worker is idle, the callback waits until the worker has pre-processed the frame
(under a millisecond, bounded by ``HANDOFF_TIMEOUT_S``) before returning. rclpy's executor
then does its per-callback bookkeeping while the backend runs without the GIL, instead of
holding the GIL while the worker waits to start (docs/benchmarks.md, node table). Only for
a single camera: with several, the waiting executor could not take the other cameras' frames
meanwhile, and they would miss the batch.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from mtl_perception.inference.encodings import DecodedImage, FrameRejectedError, decode_raw
from mtl_perception.inference.overlay import draw_overlay
from mtl_perception.inference.pipeline import FrameResult
from mtl_perception.ros.conversion import (
    ImageFiller,
    compressed_to_array,
    detections_to_msg,
    image_to_array,
)
from mtl_perception.ros.detections_cdr import encode_detections
from mtl_perception.ros.diagnostics import StageStats, make_status
from mtl_perception.ros.frame_slot import LatestFrameSlot
from mtl_perception.ros.image_cdr import decode_image

HANDOFF_TIMEOUT_S = 0.05
_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def camera_problem(cameras: Sequence[str]) -> str | None:
    """Why the ``cameras`` parameter is unusable, or None (one line, says what to fix)."""
    seen = set()
    for name in cameras:
        tokens = name.split("/")
        if not name or not all(_TOKEN.match(t) for t in tokens):
            return (f"cameras: {name!r} is not a relative ROS name (tokens of letters, digits "
                    "and _, not starting with a digit, separated by /)")
        if name in seen:
            return f"cameras: {name!r} is listed twice"
        seen.add(name)
    return None


@dataclass
class Frame:
    """A decoded frame waiting for the worker."""

    header: Header
    image: DecodedImage
    received: float  # perf_counter when the callback started
    decoded: float  # perf_counter when it entered the slot
    started: threading.Event  # set once the worker is about to run the backend on it


class Settings:
    """Run-time settings every camera reads (parameters apply to all cameras at once)."""

    def __init__(self, publish_overlay: bool, max_pixels: int, throttle_s: float,
                 serialized_detections: bool, log: Any, raw_images: bool = False) -> None:
        self.publish_overlay = publish_overlay
        self.max_pixels = max_pixels
        self.throttle_s = throttle_s
        self.serialized_detections = serialized_detections
        self.raw_images = raw_images  # subscribe to serialized Images (image_cdr)
        self._log = log
        self._warned: dict[str, float] = {}

    def warn(self, key: str, text: str) -> None:
        """A warning at most once per ``throttle_s`` for each kind of problem."""
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) >= self.throttle_s:
            self._warned[key] = now
            self._log.warning(text)


def stamp(header: Header) -> str:
    return f"{header.frame_id or '<no frame_id>'}@{header.stamp.sec}.{header.stamp.nanosec:09d}"


def _raise(exc: Exception) -> Callable[[], DecodedImage]:
    def convert() -> DecodedImage:
        raise exc

    return convert


class CameraStream:
    """One camera: subscription, slot, outputs and statistics (topics exist while open)."""

    def __init__(self, name: str, slot: LatestFrameSlot[Frame], settings: Settings,
                 handoff: bool = True) -> None:
        self.name = name
        self.handoff = handoff
        self.prefix = f"{name}/" if name else ""
        self.slot = slot
        self.settings = settings
        self.stats = StageStats()
        self._fillers = {k: ImageFiller() for k in ("drivable", "lane", "overlay")}
        self._entities: list[Any] = []
        self.sub: Any = None

    @property
    def label(self) -> str:
        return f"camera {self.name}: " if self.name else ""

    # ----- topics -------------------------------------------------------------------------
    def open(self, node: Any, transport: str, in_qos: Any, out_qos: Any) -> None:
        p = self.prefix
        self.pub_detections = node.create_publisher(Detection2DArray, p + "detections", out_qos)
        self.pub_drivable = node.create_publisher(Image, p + "drivable_area/mask", out_qos)
        self.pub_lane = node.create_publisher(Image, p + "lane/mask", out_qos)
        self.pub_overlay = node.create_publisher(Image, p + "overlay", out_qos)
        if transport == "compressed":
            # image_transport naming: remapping 'image' moves the compressed topic with it.
            topic = node.resolve_topic_name(p + "image") + "/compressed"
            self.sub = node.create_subscription(CompressedImage, topic, self._on_compressed,
                                                in_qos)
        elif self.settings.raw_images:  # the bytes as they arrived: no message object
            self.sub = node.create_subscription(Image, p + "image", self._on_serialized, in_qos,
                                                raw=True)
        else:
            self.sub = node.create_subscription(Image, p + "image", self._on_image, in_qos)
        self._entities = [self.sub, self.pub_detections, self.pub_drivable, self.pub_lane,
                          self.pub_overlay]

    def close_subscription(self, node: Any) -> None:
        if self.sub is not None:
            node.destroy_subscription(self.sub)
            self._entities.remove(self.sub)
            self.sub = None

    def close(self, node: Any) -> None:
        """Destroy the publishers (after the worker stopped) and the subscription."""
        self.close_subscription(node)
        for publisher in self._entities:
            node.destroy_publisher(publisher)
        self._entities = []

    # ----- input: the callback only converts and drops into the slot ---------------------
    def _on_image(self, msg: Image) -> None:
        self.accept(msg.header, lambda: image_to_array(msg, self.settings.max_pixels))

    def _on_serialized(self, data: bytes) -> None:
        try:
            raw = decode_image(data)
        except FrameRejectedError as exc:
            self.accept(Header(), _raise(exc))
            return
        header = Header(frame_id=raw.frame_id)
        header.stamp.sec, header.stamp.nanosec = raw.sec, raw.nanosec
        self.accept(header, lambda: decode_raw(raw.encoding, raw.width, raw.height, raw.step,
                                               raw.data, bool(raw.is_bigendian),
                                               self.settings.max_pixels))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self.accept(msg.header, lambda: compressed_to_array(msg, self.settings.max_pixels))

    def accept(self, header: Header, convert: Callable[[], DecodedImage]) -> None:
        received = time.perf_counter()
        self.stats.received += 1
        try:
            image = convert()
        except FrameRejectedError as exc:
            self.stats.reject(exc.reason)
            self.settings.warn(f"{self.name}/{exc.reason}",
                               f"{self.label}rejected frame {stamp(header)}: {exc}")
            return
        idle = self.handoff and self.slot.taker_waiting
        frame = Frame(header, image, received, time.perf_counter(), threading.Event())
        self.slot.put(frame)
        if idle:
            frame.started.wait(HANDOFF_TIMEOUT_S)

    # ----- output ---------------------------------------------------------------------------
    def mask_buffers(self, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The drivable and lane messages' own buffers: masks are resized straight into them."""
        return (self._fillers["drivable"].view(*hw), self._fillers["lane"].view(*hw))

    def publish(self, frame: Frame, result: FrameResult, start: float) -> bool:
        """Publish one frame's outputs with its header and record its timings."""
        published = time.perf_counter()
        header, fill = frame.header, self._fillers
        if self.settings.serialized_detections:  # same message, ~10x cheaper (detections_cdr)
            self.pub_detections.publish(encode_detections(header, result.detections))
        else:
            self.pub_detections.publish(detections_to_msg(header, result.detections))
        self.pub_drivable.publish(fill["drivable"].fill(header, result.drivable, "mono8"))
        self.pub_lane.publish(fill["lane"].fill(header, result.lane, "mono8"))
        if self.settings.publish_overlay and self.pub_overlay.get_subscription_count() > 0:
            picture = draw_overlay(frame.image.bgr(), result.detections, result.drivable,
                                   result.lane)
            self.pub_overlay.publish(fill["overlay"].fill(header, picture, "bgr8"))
        done = time.perf_counter()
        timings = {
            "decode": (frame.decoded - frame.received) * 1e3,
            "queue": (start - frame.decoded) * 1e3,
            "preprocess": result.timings_ms["preprocess"],
            "inference": result.timings_ms["inference"],
            "postprocess": result.timings_ms["postprocess"],
            "publish": (done - published) * 1e3,
            "end_to_end": (done - frame.received) * 1e3,
        }
        timings["overhead"] = timings["end_to_end"] - timings["inference"]
        self.stats.record(timings)
        return True

    def status(self, node_name: str, full_name: str, extra: dict[str, str]) -> DiagnosticStatus:
        """Today's ``<node>: perception`` status, or ``<node>: perception <camera>``."""
        if not self.name:
            return make_status(f"{node_name}: perception", full_name, self.stats,
                               self.slot.dropped, extra)
        values = {"camera": self.name, "image_topic": self.sub.topic_name if self.sub else "",
                  **extra}
        return make_status(f"{node_name}: perception {self.name}", f"{full_name}/{self.name}",
                           self.stats, self.slot.dropped, values)
