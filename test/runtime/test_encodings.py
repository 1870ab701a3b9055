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
        (("hsv8", 5, 6, 15, bytes(90)), "unsupported_encoding", "unsupported encoding 'hsv8'"),
        (("yuv422", 5, 6, 10, bytes(60)), "odd_width", r"yuv422 needs an even width .*5x6"),
        (("yuyv", 3, 2, 6, bytes(12)), "odd_width", "one U and one V per horizontal pixel pair"),
        (("yuv422", 4, 6, 7, bytes(42)), "bad_step", r"step 7 is smaller than .* = 8 for yuv422"),
        (("yuv422_yuy2", 4, 6, 9, bytes(60)), "bad_size", r"60 bytes but step\*height = 9\*6"),
        (("bayer_rggb8", 5, 6, 5, bytes(30)), "odd_width", r"needs an even width \(a Bayer"),
        (("bayer_gbrg8", 6, 5, 6, bytes(30)), "odd_height", r"needs an even height .* 6x5"),
        (("bayer_bggr8", 6, 4, 5, bytes(20)), "bad_step", "step 5 is smaller than"),
        (("bayer_grbg16", 6, 4, 13, bytes(52)), "bad_step", "step 13 is not a multiple of 2"),
        (("bayer_rggb16", 6, 4, 11, bytes(44)), "bad_step", r"smaller than .* = 12 for bayer"),
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


# ----------------------------------------------------------------------------- YUV 4:2:2
def _bt601_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Video-range BT.601 YUV -> RGB, the conversion cameras and OpenCV's 4:2:2 decoder use."""
    c, d, e = 1.164 * (y - 16.0), u - 128.0, v - 128.0
    rgb = np.stack([c + 1.596 * e, c - 0.391 * d - 0.813 * e, c + 2.018 * d], axis=-1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _yuv422_picture(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random Y per pixel, U and V per horizontal pixel pair (what 4:2:2 can represent)."""
    rng = np.random.default_rng(7)
    y = rng.integers(16, 236, (h, w)).astype(np.uint8)
    u = rng.integers(40, 216, (h, w // 2)).astype(np.uint8)
    v = rng.integers(40, 216, (h, w // 2)).astype(np.uint8)
    return y, u, v


def _pack(order: str, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H x 2W bytes in ``order`` ('uyvy' or 'yuyv') per pixel pair."""
    planes = {"y0": y[:, 0::2], "y1": y[:, 1::2], "u": u, "v": v}
    names = ["u", "y0", "v", "y1"] if order == "uyvy" else ["y0", "u", "y1", "v"]
    return np.stack([planes[n] for n in names], axis=-1).reshape(y.shape[0], -1)


@pytest.mark.parametrize("pad", [0, 6])
@pytest.mark.parametrize(
    ("encoding", "order"),
    [("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"), ("yuyv", "yuyv")],
)
def test_yuv422_packed_bytes_decode_to_bt601_rgb(encoding: str, order: str, pad: int) -> None:
    h, w = 6, 8
    y, u, v = _yuv422_picture(h, w)
    data, step = _padded(_pack(order, y, u, v), pad)
    img = decode_raw(encoding, w, h, step, data)
    assert img.color == "rgb" and img.pixels.shape == (h, w, 3)
    expected = _bt601_rgb(y.astype(float), np.repeat(u, 2, axis=1).astype(float),
                          np.repeat(v, 2, axis=1).astype(float))
    assert np.abs(img.pixels.astype(int) - expected).max() <= 2
    other = "yuyv" if order == "uyvy" else "uyvy"
    wrong = decode_raw(other, w, h, step, data).pixels
    assert np.abs(wrong.astype(int) - expected).max() > 40, "byte order matters"


def _smooth_rgb(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    rgb = np.stack([40 + 160 * xx / w, 200 - 150 * yy / h, 60 + 60 * (xx + yy) / (w + h)], -1)
    return np.round(rgb).astype(np.uint8)


@pytest.mark.parametrize(
    ("encoding", "forward"), [("yuv422", "COLOR_RGB2YUV_UYVY"), ("yuyv", "COLOR_RGB2YUV_YUY2")]
)
def test_yuv422_opencv_round_trip(encoding: str, forward: str) -> None:
    if not hasattr(cv2, forward):  # the RGB -> 4:2:2 direction is OpenCV >= 4.8 only
        pytest.skip(f"cv2.{forward} not in OpenCV {cv2.__version__}")
    rgb = _smooth_rgb(48, 64)
    packed = cv2.cvtColor(rgb, getattr(cv2, forward))
    assert packed.shape == (48, 64, 2)
    img = decode_raw(encoding, 64, 48, 128, packed.tobytes())
    assert np.abs(img.pixels.astype(int) - rgb).max() <= 4


def test_yuv422_720p_is_one_view_and_one_conversion() -> None:
    y, u, v = _yuv422_picture(720, 1280)
    data = _pack("uyvy", y, u, v).tobytes()
    img = decode_raw("yuv422", 1280, 720, 2560, data)
    assert img.pixels.shape == (720, 1280, 3) and img.pixels.flags.c_contiguous
    ref = cv2.cvtColor(np.frombuffer(data, np.uint8).reshape(720, 1280, 2),
                       cv2.COLOR_YUV2RGB_UYVY)
    np.testing.assert_array_equal(img.pixels, ref)


# ----------------------------------------------------------------------------- Bayer
def _mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Sample ``rgb`` through a colour filter array; ``pattern`` as ROS names it, e.g. 'rggb'
    = top-left pixel red, its right neighbour green, the pixel below it green, then blue."""
    out = np.zeros(rgb.shape[:2], rgb.dtype)
    for i, colour in enumerate(pattern):
        dy, dx = divmod(i, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(colour)]
    return out


PATTERNS = ["rggb", "bggr", "gbrg", "grbg"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bayer8_demosaics_to_the_original_colours(pattern: str) -> None:
    rgb = _smooth_rgb(48, 64)
    data, step = _padded(_mosaic(rgb, pattern), 4)
    img = decode_raw(f"bayer_{pattern}8", 64, 48, step, data)
    assert img.color == "rgb" and img.pixels.shape == (48, 64, 3)
    inner = (slice(2, -2), slice(2, -2))
    assert np.abs(img.pixels[inner].astype(int) - rgb[inner]).max() <= 2
    flat = np.empty((8, 10, 3), np.uint8)
    flat[...] = (200, 100, 30)
    out = decode_raw(f"bayer_{pattern}8", 10, 8, 10, _mosaic(flat, pattern).tobytes()).pixels
    np.testing.assert_array_equal(out[2:-2, 2:-2], flat[2:-2, 2:-2])
    for other in PATTERNS:  # each other pattern gets the colours wrong: the mapping is tested
        if other != pattern:
            wrong = decode_raw(f"bayer_{other}8", 10, 8, 10, _mosaic(flat, pattern).tobytes())
            assert np.abs(wrong.pixels[2:-2, 2:-2].astype(int) - flat[2:-2, 2:-2]).max() > 50


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bayer16_shifts_to_8_bit_and_honours_endianness(pattern: str) -> None:
    rgb = _smooth_rgb(12, 16)
    high = _mosaic(rgb, pattern)
    wide = high.astype(np.uint16) * 256 + RNG.integers(0, 256, high.shape, dtype=np.uint16)
    expected = decode_raw(f"bayer_{pattern}8", 16, 12, 16, high.tobytes()).pixels
    encoding = f"bayer_{pattern}16"
    little, step = _padded(wide.astype("<u2"), 4)
    big, _ = _padded(wide.astype(">u2"), 4)
    np.testing.assert_array_equal(decode_raw(encoding, 16, 12, step, little).pixels, expected)
    np.testing.assert_array_equal(
        decode_raw(encoding, 16, 12, step, big, is_bigendian=True).pixels, expected)
    wrong = decode_raw(encoding, 16, 12, step, big, is_bigendian=False).pixels
    assert not (wrong == expected).all(), "endianness flag matters"
