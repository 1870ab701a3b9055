"""sensor_msgs payload decoding: every supported encoding, padding, and precise rejections."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mtl_perception.inference.encodings import (
    FrameRejectedError,
    decode_compressed,
    decode_raw,
)

RNG = np.random.default_rng(1)
RGB = RNG.integers(0, 255, (6, 5, 3), dtype=np.uint8)


def _padded(pixels: np.ndarray, pad: int) -> tuple[bytes, int]:
    h = pixels.shape[0]
    rows = pixels.reshape(h, -1).view(np.uint8)
    step = rows.shape[1] + pad
    out = np.zeros((h, step), np.uint8)
    out[:, : rows.shape[1]] = rows
    return out.tobytes(), step


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "make", "color"),
    [
        ("rgb8", lambda: RGB, "rgb"),
        ("bgr8", lambda: RGB[..., ::-1].copy(), "bgr"),
        ("rgba8", lambda: np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)]), "rgb"),
        ("bgra8", lambda: np.dstack([RGB[..., ::-1], np.zeros(RGB.shape[:2], np.uint8)]), "bgr"),
    ],
)
def test_colour_encodings(encoding: str, make, color: str, pad: int) -> None:
    data, step = _padded(make(), pad)
    img = decode_raw(encoding, 5, 6, step, data)
    assert img.color == color
    rgb = img.pixels if color == "rgb" else img.pixels[..., ::-1]
    np.testing.assert_array_equal(rgb, RGB)
    np.testing.assert_array_equal(img.bgr(), RGB[..., ::-1])


def test_mono8_and_mono16_endianness() -> None:
    mono = RGB[..., 0]
    data, step = _padded(mono, 2)
    img = decode_raw("mono8", 5, 6, step, data)
    assert img.pixels.shape == (6, 5, 3) and (img.pixels[..., 1] == mono).all()
    wide = mono.astype(np.uint16) * 256 + 17
    little = decode_raw("mono16", 5, 6, 10, wide.astype("<u2").tobytes(), is_bigendian=False)
    big = decode_raw("mono16", 5, 6, 10, wide.astype(">u2").tobytes(), is_bigendian=True)
    assert (little.pixels[..., 0] == mono).all() and (big.pixels[..., 0] == mono).all()
    wrong = decode_raw("mono16", 5, 6, 10, wide.astype(">u2").tobytes(), is_bigendian=False)
    assert not (wrong.pixels[..., 0] == mono).all(), "endianness flag matters"


@pytest.mark.parametrize(
    ("args", "reason", "text"),
    [
        (("bgr8", 5, 6, 14, bytes(84)), "bad_step", "step 14 is smaller than"),
        (("bgr8", 5, 6, 15, bytes(80)), "truncated", r"80 bytes but step\*height = 15\*6 = 90"),
        (("bgr8", 5, 6, 15, bytes(100)), "bad_size", "100 bytes"),
        (("bgr8", 0, 6, 0, b""), "zero_size", "zero size"),
        (("yuv422", 5, 6, 10, bytes(60)), "unsupported_encoding", "unsupported encoding 'yuv422'"),
    ],
)
def test_raw_rejections(args, reason: str, text: str) -> None:
    with pytest.raises(FrameRejectedError, match=text) as info:
        decode_raw(*args)
    assert info.value.reason == reason


def test_too_many_pixels() -> None:
    with pytest.raises(FrameRejectedError, match="max_image_pixels=20") as info:
        decode_raw("bgr8", 5, 6, 15, bytes(90), max_pixels=20)
    assert info.value.reason == "too_large"


def test_jpeg_and_png() -> None:
    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[:, :32] = (255, 0, 0)
    for ext in (".jpg", ".png"):
        _ok, enc = cv2.imencode(ext, bgr)
        img = decode_compressed("bgr8; jpeg compressed bgr8", enc.tobytes())
        assert img.color == "bgr" and img.pixels.shape == (48, 64, 3)
        assert abs(int(img.pixels[10, 5, 0]) - 255) < 8 and img.pixels[10, 50, 0] < 8
        with pytest.raises(FrameRejectedError) as info:
            decode_compressed("jpeg", enc.tobytes(), max_pixels=1000)
        assert info.value.reason == "too_large"


def test_corrupt_compressed() -> None:
    _ok, enc = cv2.imencode(".jpg", RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = enc.tobytes()
    with pytest.raises(FrameRejectedError, match="truncated") as info:
        decode_compressed("jpeg", data[: len(data) // 2])
    assert info.value.reason == "corrupt_compressed"
    with pytest.raises(FrameRejectedError, match="neither JPEG nor PNG"):
        decode_compressed("jpeg", b"GIF89a" + bytes(50))
    with pytest.raises(FrameRejectedError, match="no data"):
        decode_compressed("jpeg", b"")
    garbage = data[:200] + bytes(len(data) - 202) + b"\xff\xd9"
    with pytest.raises(FrameRejectedError):
        decode_compressed("jpeg", garbage)
