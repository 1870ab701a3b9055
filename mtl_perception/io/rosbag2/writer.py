"""BagWriter: a rosbag2 bag (mcap or sqlite3) written frame by frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Writer

from mtl_perception.common.types import BoxLabel
from mtl_perception.io.rosbag2.messages import (
    camera_info_message,
    compressed_message,
    detections_message,
    image_message,
)
from mtl_perception.io.rosbag2.typestore import (
    BAG_VERSION,
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    DETECTION_ARRAY,
    IMAGE,
    BagError,
    storage_plugin,
    typestore,
)


class BagWriter:
    """Writes images, camera info, detections and masks to a new rosbag2 bag.

    A context manager: the bag's metadata is always written on exit, also after an error,
    so a partial conversion still leaves a bag that ``ros2 bag`` can open.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", version: int = BAG_VERSION):
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; remove it or choose another --out")
        self._writer = Writer(self.path, version=version, storage_plugin=storage_plugin(storage))
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None  # type: ignore[assignment]

    def write(self, topic: str, msgtype: str, msg: Any, log_time_ns: int) -> None:
        """Serialize ``msg`` (a rosbags message object) and append it to ``topic``."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f"topic {topic} already holds {conn.msgtype}, not {msgtype}")
        self._writer.write(conn, int(log_time_ns), typestore().serialize_cdr(msg, msgtype))
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def set_custom_data(self, key: str, value: str) -> None:
        """A string stored in metadata.yaml's ``custom_data`` (rosbag2 keeps it on copy)."""
        self._writer.set_custom_data(key, value)

    def write_raw(self, topic: str, msgtype: str, data: bytes, log_time_ns: int) -> None:
        """Append already-serialized CDR bytes (copying between bags without decoding)."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
        self._writer.write(conn, int(log_time_ns), data)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def add_image(
        self,
        topic: str,
        rgb: np.ndarray,
        stamp_ns: int,
        frame_id: str,
        compressed: bool = False,
        jpeg_quality: int = 90,
    ) -> None:
        """An RGB frame as raw ``rgb8`` Image, or JPEG CompressedImage when ``compressed``."""
        if compressed:
            self.write(topic, COMPRESSED_IMAGE,
                       compressed_message(rgb, stamp_ns, frame_id, jpeg_quality), stamp_ns)
        else:
            self.write(topic, IMAGE, image_message(rgb, stamp_ns, frame_id), stamp_ns)

    def add_mask(self, topic: str, mask: np.ndarray, stamp_ns: int, frame_id: str) -> None:
        """A class-id mask as mono8 Image (the node's mask topics)."""
        self.write(topic, IMAGE, image_message(mask, stamp_ns, frame_id, "mono8"), stamp_ns)

    def add_camera_info(
        self, topic: str, width: int, height: int, stamp_ns: int, frame_id: str
    ) -> None:
        self.write(topic, CAMERA_INFO,
                   camera_info_message(width, height, stamp_ns, frame_id), stamp_ns)

    def add_detections(
        self, topic: str, boxes: Sequence[BoxLabel], stamp_ns: int, frame_id: str
    ) -> None:
        self.write(topic, DETECTION_ARRAY, detections_message(boxes, stamp_ns, frame_id),
                   stamp_ns)


# ----------------------------------------------------------------------------- reading
