"""sensor_msgs/Image read straight from its serialized (CDR) bytes, for raw subscriptions.

Turning a 720p Image into a Python message costs about 3 ms here (rclpy's C-to-Python
conversion copies the pixels into a fresh array, holding the GIL), while the node only needs
the header, the layout fields and a view of the pixels. With several cameras one executor
thread takes every camera's frames, and that conversion then competed with the inference
worker for the interpreter (``mtl-bench cameras``). A raw subscription hands over the bytes
as they arrived, and :func:`decode_image` reads the fields with a few struct unpacks and
views the pixels without copying them.

The layout is plain CDR (XCDR1, either byte order), which rmw_fastrtps and rmw_cyclonedds put
on the wire for ROS 2 types. :func:`matches_rclpy_serializer` compares the decoder with
rclpy's own serializer; the node runs it at startup and takes message objects instead if
they ever differ.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from mtl_perception.inference.encodings import FrameRejectedError

_ENDIAN = {b"\x00\x00": ">", b"\x00\x01": "<"}  # CDR big / little endian encapsulation ids


class RawImage(NamedTuple):
    """The fields of one serialized sensor_msgs/Image; ``data`` views the message bytes."""

    sec: int
    nanosec: int
    frame_id: str
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


class _Reader:
    """Reads CDR primitives with their alignment (counted from after the 4-byte header)."""

    def __init__(self, buf: memoryview, order: str) -> None:
        self.buf, self.pos = buf, 4
        self.u32 = struct.Struct(order + "I")
        self.i32 = struct.Struct(order + "i")

    def _take(self, size: int) -> memoryview:
        end = self.pos + size
        if size < 0 or end > len(self.buf):
            raise FrameRejectedError("truncated", f"serialized Image ends at byte "
                                     f"{len(self.buf)}, a field needs {end}")
        view, self.pos = self.buf[self.pos:end], end
        return view

    def number(self, kind: struct.Struct) -> int:
        self.pos += -(self.pos - 4) % 4
        return int(kind.unpack(self._take(4))[0])

    def string(self) -> str:
        size = self.number(self.u32)  # includes the terminating NUL
        return bytes(self._take(size)).rstrip(b"\x00").decode("utf-8", "replace")

    def octet(self) -> int:
        return int(self._take(1)[0])

    def octets(self) -> memoryview:
        return self._take(self.number(self.u32))


def decode_image(data: bytes | bytearray | memoryview) -> RawImage:
    """The fields of a serialized sensor_msgs/Image; a malformed one is a FrameRejectedError."""
    buf = memoryview(data).cast("B")
    order = _ENDIAN.get(bytes(buf[:2]))
    if order is None or len(buf) < 4:
        raise FrameRejectedError("bad_serialization",
                                 f"not a plain CDR message (starts {bytes(buf[:4]).hex()})")
    r = _Reader(buf, order)
    sec, nanosec, frame_id = r.number(r.i32), r.number(r.u32), r.string()
    height, width = r.number(r.u32), r.number(r.u32)
    encoding, is_bigendian = r.string(), r.octet()
    step = r.number(r.u32)
    return RawImage(sec, nanosec, frame_id, height, width, encoding, is_bigendian, step,
                    r.octets())


def matches_rclpy_serializer() -> bool:
    """Whether :func:`decode_image` reads what this rclpy serializes (checked at startup)."""
    try:
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import Image

        msg: Any = Image(height=3, width=5, encoding="rgb8", is_bigendian=0, step=16)
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000, 123456789
        msg.header.frame_id = "cam_odd"  # an odd length, so the next field needs padding
        msg.data = bytes(range(48))
        raw = decode_image(serialize_message(msg))
    except Exception:  # any surprise: take message objects
        return False
    return (raw.sec, raw.nanosec, raw.frame_id, raw.height, raw.width, raw.encoding,
            raw.is_bigendian, raw.step, bytes(raw.data)) == (
        1_700_000_000, 123456789, "cam_odd", 3, 5, "rgb8", 0, 16, bytes(range(48)))
