"""ImageFiller: messages filled by copy and in place carry the same bytes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sensor_msgs")

from std_msgs.msg import Header

from mtl_perception.ros.conversion import ImageFiller


def test_fill_by_copy_and_in_place_give_the_same_message() -> None:
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 3, (72, 128), dtype=np.uint8)
    copied = ImageFiller().fill(Header(), mask, "mono8")

    filler = ImageFiller()
    view = filler.view(72, 128)
    view[...] = mask
    in_place = filler.fill(Header(), view, "mono8")

    for msg in (copied, in_place):
        assert (msg.height, msg.width, msg.step, msg.encoding) == (72, 128, 128, "mono8")
        np.testing.assert_array_equal(np.frombuffer(msg.data, np.uint8).reshape(72, 128), mask)


def test_colour_view_and_refill_after_resize() -> None:
    filler = ImageFiller()
    small = filler.view(4, 6, 3)
    small[...] = 9
    msg = filler.fill(Header(), small, "bgr8")
    assert (msg.step, len(msg.data)) == (18, 72)
    big = np.arange(8 * 10, dtype=np.uint8).reshape(8, 10)
    header = Header(frame_id="cam")
    again = filler.fill(header, big, "mono8")  # new size: a new buffer, filled by copy
    assert again is msg, "one message per output is reused"
    assert (msg.height, msg.width, msg.step, msg.encoding) == (8, 10, 10, "mono8")
    assert msg.header.frame_id == "cam"
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.uint8), big.ravel())


def test_transposed_view_of_the_buffer_is_copied_not_trusted() -> None:
    filler = ImageFiller()
    view = filler.view(4, 4)
    view[...] = np.arange(16, dtype=np.uint8).reshape(4, 4)
    expected = view.T.copy()
    msg = filler.fill(Header(), view.T, "mono8")  # same start address, other layout
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.uint8).reshape(4, 4), expected)
