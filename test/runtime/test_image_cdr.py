"""The raw-subscription reader of sensor_msgs/Image agrees with rclpy's own serializer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from mtl_perception.inference.encodings import FrameRejectedError, decode_raw
from mtl_perception.ros.image_cdr import decode_image, matches_rclpy_serializer


def _image(frame_id: str, encoding: str, height: int, width: int, step: int) -> Image:
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=step)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_123, 999_999_999
    msg.data = np.random.default_rng(height).integers(0, 256, step * height,
                                                      np.uint8).tobytes()
    return msg


@pytest.mark.parametrize(("frame_id", "encoding", "h", "w", "step"), [
    ("", "bgr8", 4, 6, 18), ("c", "mono8", 3, 5, 8), ("front_camera", "yuv422", 2, 4, 8),
    ("cam", "rgb16", 2, 3, 18)])
def test_fields_and_pixels_match_the_message(frame_id: str, encoding: str, h: int, w: int,
                                             step: int) -> None:
    msg = _image(frame_id, encoding, h, w, step)
    raw = decode_image(serialize_message(msg))
    assert (raw.sec, raw.nanosec, raw.frame_id) == (1_700_000_123, 999_999_999, frame_id)
    assert (raw.height, raw.width, raw.encoding, raw.step) == (h, w, encoding, step)
    assert bytes(raw.data) == bytes(msg.data)
    ours = decode_raw(raw.encoding, raw.width, raw.height, raw.step, raw.data)
    theirs = decode_raw(msg.encoding, msg.width, msg.height, msg.step, msg.data)
    np.testing.assert_array_equal(ours.pixels, theirs.pixels)


def test_startup_check_passes_with_this_rclpy() -> None:
    assert matches_rclpy_serializer()


@pytest.mark.parametrize(("cut", "reason"), [(None, "bad_serialization"), (30, "truncated")])
def test_malformed_bytes_are_rejected_with_a_reason(cut: int | None, reason: str) -> None:
    data = serialize_message(_image("cam", "bgr8", 4, 6, 18))
    bad = b"\x07\x07" + data[2:] if cut is None else data[:cut]
    with pytest.raises(FrameRejectedError) as err:
        decode_image(bad)
    assert err.value.reason == reason
