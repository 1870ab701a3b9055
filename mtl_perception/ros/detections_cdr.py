"""Detection2DArray written straight to its serialized (CDR) bytes, for ``publish(bytes)``.

Building vision_msgs objects in Python and converting them to C costs about 0.1 ms per
detection here, more than publishing a 0.9 MB mask (``mtl-bench node`` stage table,
docs/benchmarks.md). rclpy publishes pre-serialized bytes as they are, so the node encodes
the array itself: a few struct packs per detection.

The layout is vision_msgs 4.x (Humble and newer) in plain little-endian CDR (XCDR1), which
is what rmw_fastrtps and rmw_cyclonedds put on the wire for ROS 2 types.
:func:`matches_rclpy_serializer` compares the bytes with rclpy's own serializer; the node
runs it at startup and publishes message objects instead if they ever differ. The fields
written are the ones :func:`mtl_perception.ros.conversion.detections_to_msg` fills; every
other field keeps its ROS default (identity orientation, zero covariance, theta 0).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from mtl_perception.inference.postprocess import Detections

ENCAPSULATION = b"\x00\x01\x00\x00"  # CDR, little endian; alignment counts from after it
# Pose (position 0, orientation identity x y z w) and a zero 6x6 covariance: 43 doubles.
_POSE_AND_COVARIANCE = struct.pack("<43d", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, *([0.0] * 36))
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_BBOX = struct.Struct("<5d")  # center.position.x, .y, center.theta, size_x, size_y


class _Writer:
    """Appends CDR primitives with their alignment."""

    def __init__(self) -> None:
        self.buf = bytearray(ENCAPSULATION)

    def align(self, size: int) -> None:
        pad = -(len(self.buf) - len(ENCAPSULATION)) % size
        if pad:
            self.buf += b"\x00" * pad

    def u32(self, value: int) -> None:
        self.align(4)
        self.buf += _U32.pack(value)

    def string(self, text: str) -> None:
        data = text.encode("utf-8")
        self.u32(len(data) + 1)
        self.buf += data
        self.buf += b"\x00"


def _header_bytes(sec: int, nanosec: int, frame_id: str) -> bytes:
    """std_msgs/Header from a 4-aligned offset (it has no 8-byte field, so no other padding)."""
    data = frame_id.encode("utf-8")
    return struct.pack("<iII", sec, nanosec, len(data) + 1) + data + b"\x00"


def encode_detections(header: Any, detections: Detections) -> bytes:
    """The serialized vision_msgs/Detection2DArray that ``detections_to_msg`` would build.

    ``header`` is a std_msgs/Header (or anything with ``stamp.sec``, ``stamp.nanosec`` and
    ``frame_id``). Boxes are xyxy in original-image pixels; ``id`` is the rank.
    """
    head = _header_bytes(int(header.stamp.sec), int(header.stamp.nanosec), header.frame_id)
    w = _Writer()
    w.buf += head
    w.u32(len(detections))
    boxes = detections.boxes.astype(np.float64)  # the same doubles detections_to_msg uses
    cx = ((boxes[:, 0] + boxes[:, 2]) / 2.0).tolist()
    cy = ((boxes[:, 1] + boxes[:, 3]) / 2.0).tolist()
    sx = (boxes[:, 2] - boxes[:, 0]).tolist()
    sy = (boxes[:, 3] - boxes[:, 1]).tolist()
    scores = detections.scores.tolist()
    for i, name in enumerate(detections.class_names):
        w.align(4)
        w.buf += head  # Detection2D.header
        w.u32(1)  # results: one hypothesis
        w.string(name)  # hypothesis.class_id
        w.align(8)
        w.buf += _F64.pack(scores[i])
        w.buf += _POSE_AND_COVARIANCE  # 8-aligned after the score
        w.buf += _BBOX.pack(cx[i], cy[i], 0.0, sx[i], sy[i])
        w.string(str(i))  # id
    return bytes(w.buf)


def matches_rclpy_serializer() -> bool:
    """True when rclpy reads :func:`encode_detections`' bytes back as ``detections_to_msg``.

    The check deserializes with the installed type support (padding bytes are unspecified
    in CDR, so the bytes themselves are not compared) and checks the length against rclpy's
    serializer. Samples: frame ids of every length mod 4, no detection, and several with
    names and ids of different lengths, so that every alignment case occurs.
    """
    from rclpy.serialization import deserialize_message, serialize_message
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray

    from mtl_perception.ros.conversion import detections_to_msg

    samples = [Detections.empty()]
    names = ["car", "pedestrian", "traffic light", "bus", "x", "rider", "truck", "bicycle",
             "train", "motorcycle", "traffic sign"]
    rng = np.random.default_rng(0)
    for n in (1, 3, len(names)):
        xy = rng.uniform(0, 1000, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(1, 300, (n, 2))], axis=1)
        samples.append(Detections(boxes.astype(np.float32),
                                  rng.uniform(0, 1, n).astype(np.float32),
                                  np.arange(n, dtype=np.int64), names[:n]))
    headers = []
    for frame_id in ("", "c", "ca", "cam", "cam0_optical"):
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = 1_700_000_000, 123_456_789
        headers.append(header)
    for header, sample in ((h, s) for h in headers for s in samples):
        encoded = encode_detections(header, sample)
        expected = detections_to_msg(header, sample)
        try:
            decoded = deserialize_message(encoded, Detection2DArray)
        except Exception:  # the type support rejects a malformed buffer with various types
            return False
        if decoded != expected or len(encoded) != len(serialize_message(expected)):
            return False
    return True
