"""Letterbox into a reused buffer, and the round trip back to original pixels."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_perception.inference.letterbox import Letterbox
from mtl_perception.inference.preprocess import Preprocessor


def test_buffer_is_reused_and_padded() -> None:
    pre = Preprocessor((384, 640), pad_value=114)
    frame = np.full((720, 1280, 3), 7, np.uint8)
    out1, geo = pre(frame)
    out2, _ = pre(frame)
    assert out1 is out2, "one canvas for every frame"
    assert (geo.scale, geo.offset_x, geo.offset_y) == (0.5, 0, 12)
    assert (out1[:12] == 114).all() and (out1[372:] == 114).all()
    assert (out1[12:372] == 7).all()


def test_bgr_is_swapped_on_the_small_canvas() -> None:
    pre = Preprocessor((64, 64))
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[..., 0] = 255  # pure blue in BGR
    out, geo = pre(frame, "bgr")
    y0 = geo.offset_y
    assert out[y0 + 1, 5].tolist() == [0, 0, 255], "RGB order after swap"
    assert out[0, 0].tolist() == [114, 114, 114]
    with pytest.raises(ValueError, match="colour order"):
        pre(frame, "yuv")


@pytest.mark.parametrize("src", [(720, 1280), (1080, 1920), (480, 640), (1000, 500), (37, 91)])
def test_box_round_trip(src: tuple[int, int]) -> None:
    geo = Letterbox.fit(src, (384, 640))
    h, w = src
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, (50, 4)) * [w, h, w, h]
    boxes = np.concatenate([np.minimum(xy[:, :2], xy[:, 2:]), np.maximum(xy[:, :2], xy[:, 2:])],
                           axis=1).astype(np.float32)
    back = geo.boxes_to_source(geo.boxes_to_network(boxes))
    np.testing.assert_allclose(back, boxes, atol=1e-3)


def test_boxes_outside_the_image_are_clipped() -> None:
    geo = Letterbox.fit((720, 1280), (384, 640))
    out = geo.boxes_to_source(np.array([[-20.0, 0.0, 700.0, 400.0]], np.float32))
    assert out.tolist() == [[0.0, 0.0, 1280.0, 720.0]]


def test_mask_round_trip_nearest() -> None:
    geo = Letterbox.fit((720, 1280), (384, 640))
    src = np.zeros((720, 1280), np.uint8)
    src[400:, :] = 1
    src[:, 600:700] = 2
    canvas = np.full((384, 640), 9, np.uint8)  # 9 in the padding must never come back
    import cv2

    small = cv2.resize(src, (geo.resized_width, geo.resized_height),
                       interpolation=cv2.INTER_NEAREST)
    canvas[geo.offset_y : geo.offset_y + geo.resized_height,
           geo.offset_x : geo.offset_x + geo.resized_width] = small
    back = geo.mask_to_source(canvas)
    assert back.shape == src.shape
    assert set(np.unique(back)) == {0, 1, 2}
    assert (back != src).mean() < 0.005
