"""sensor_msgs Image / CompressedImage payloads -> numpy, without cv_bridge.

Every way a frame can be unusable raises :class:`FrameRejectedError` with a short ``reason`` key
(counted in diagnostics) and a message precise enough to fix the publisher.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np


class _Layout(NamedTuple):
    """How one raw encoding is laid out and turned into 3-channel uint8."""

    channels: int  # values per pixel as stored (2 for packed YUV 4:2:2: Y and U or V)
    depth: int  # bytes per value; 2-byte values are shifted to 8 bit (is_bigendian honoured)
    convert: int | None  # cv2.cvtColor code to 3 channels, None when already 3 channels
    color: str  # channel order of the result: 'rgb' or 'bgr'
    block: tuple[int, int] = (1, 1)  # width, height must be multiples of these


# Packed YUV 4:2:2: each horizontal pixel pair shares one U and one V (4 bytes per 2 pixels).
_UYVY = _Layout(2, 1, cv2.COLOR_YUV2RGB_UYVY, "rgb", (2, 1))
_YUYV = _Layout(2, 1, cv2.COLOR_YUV2RGB_YUY2, "rgb", (2, 1))
# Bayer: OpenCV names a pattern by the 2nd and 3rd pixel of the 2nd row, i.e. ROS/sensor
# names shifted by one: ROS "rggb" (top-left pixel red) is OpenCV "BG" (test_encodings
# checks this on a mosaic made from a known picture).
_BAYER = {"rggb": cv2.COLOR_BayerBG2RGB, "bggr": cv2.COLOR_BayerRG2RGB,
          "gbrg": cv2.COLOR_BayerGR2RGB, "grbg": cv2.COLOR_BayerGB2RGB}

_RAW: dict[str, _Layout] = {
    "rgb8": _Layout(3, 1, None, "rgb"),
    "bgr8": _Layout(3, 1, None, "bgr"),
    "rgba8": _Layout(4, 1, cv2.COLOR_RGBA2RGB, "rgb"),
    "bgra8": _Layout(4, 1, cv2.COLOR_BGRA2BGR, "bgr"),
    "mono8": _Layout(1, 1, cv2.COLOR_GRAY2RGB, "rgb"),
    "8UC1": _Layout(1, 1, cv2.COLOR_GRAY2RGB, "rgb"),
    "8UC3": _Layout(3, 1, None, "bgr"),  # OpenCV convention
    "rgb16": _Layout(3, 2, None, "rgb"),
    "bgr16": _Layout(3, 2, None, "bgr"),
    "mono16": _Layout(1, 2, cv2.COLOR_GRAY2RGB, "rgb"),
    "yuv422": _UYVY,  # ROS name for UYVY byte order (U0 Y0 V0 Y1)
    "uyvy": _UYVY,
    "yuv422_yuy2": _YUYV,  # ROS name for YUYV byte order (Y0 U0 Y1 V0)
    "yuyv": _YUYV,
}
_RAW.update({f"bayer_{pattern}{bits}": _Layout(1, bits // 8, code, "rgb", (2, 2))
             for pattern, code in _BAYER.items() for bits in (8, 16)})
_WHY_EVEN = {
    (2, 1): "4:2:2 YUV stores one U and one V per horizontal pixel pair",
    (2, 2): "a Bayer mosaic repeats in 2x2 pixel blocks",
}
SUPPORTED_ENCODINGS = tuple(_RAW)
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FrameRejectedError(ValueError):
    """This frame cannot be used; ``reason`` is a short key for counting."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class DecodedImage:
    """uint8 HxWx3 pixels plus their channel order ('rgb' or 'bgr'); may view the message."""

    pixels: np.ndarray
    color: str

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def bgr(self) -> np.ndarray:
        """A BGR version (no copy when already BGR) for drawing overlays."""
        if self.color == "bgr":
            return self.pixels
        return cv2.cvtColor(self.pixels, cv2.COLOR_RGB2BGR)


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise FrameRejectedError("zero_size", f"image has zero size ({width}x{height})")
    if max_pixels > 0 and width * height > max_pixels:
        raise FrameRejectedError(
            "too_large",
            f"image {width}x{height} = {width * height} px exceeds max_image_pixels={max_pixels}",
        )


def decode_raw(
    encoding: str,
    width: int,
    height: int,
    step: int,
    data: bytes | bytearray | memoryview | np.ndarray,
    is_bigendian: bool = False,
    max_pixels: int = 0,
) -> DecodedImage:
    """Decode a sensor_msgs/Image payload; no copy for padded or unpadded 8-bit 3-channel data."""
    spec = _RAW.get(encoding)
    if spec is None:
        raise FrameRejectedError(
            "unsupported_encoding",
            f"unsupported encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}",
        )
    _check_size(width, height, max_pixels)
    channels, depth, convert, color, block = spec
    for axis, size, multiple in (("width", width, block[0]), ("height", height, block[1])):
        if size % multiple:
            raise FrameRejectedError(
                f"odd_{axis}",
                f"{encoding} needs an even {axis} ({_WHY_EVEN[block]}); got {width}x{height}",
            )
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise FrameRejectedError(
            "bad_step",
            f"step {step} is smaller than width*channels*bytes = {width}*{channels}*{depth} "
            f"= {row_bytes} for {encoding}",
        )
    if depth > 1 and step % depth:
        raise FrameRejectedError(
            "bad_step", f"step {step} is not a multiple of {depth} for {encoding}"
        )
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    buf = buf.reshape(-1)
    expected = step * height
    if buf.size != expected:
        kind = "truncated" if buf.size < expected else "bad_size"
        raise FrameRejectedError(
            kind,
            f"data has {buf.size} bytes but step*height = {step}*{height} = {expected}",
        )
    rows = buf.reshape(height, step)[:, :row_bytes]
    if depth == 1:
        pixels = rows.reshape(height, width, channels)
    else:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        wide = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
        pixels = (wide >> 8).astype(np.uint8)
    if convert is not None:
        pixels = cv2.cvtColor(pixels, convert)
    return DecodedImage(pixels, color)


def compressed_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) read from a JPEG or PNG header without decoding the pixels."""
    if data[:8] == PNG_MAGIC:
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise FrameRejectedError("corrupt_compressed", "PNG header is truncated or has no IHDR")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:3] == JPEG_MAGIC:
        pos = 2
        while pos + 4 <= len(data):
            if data[pos] != 0xFF:
                raise FrameRejectedError(
                    "corrupt_compressed", f"JPEG marker expected at byte {pos}"
                )
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            seg_len = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                if pos + 9 > len(data):
                    break
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return "jpeg", width, height
            pos += 2 + seg_len
        raise FrameRejectedError("corrupt_compressed", "JPEG has no frame header (SOF) segment")
    raise FrameRejectedError(
        "unsupported_format", f"compressed data is neither JPEG nor PNG (starts {data[:4].hex()})"
    )


def decode_compressed(
    fmt: str, data: bytes | bytearray | memoryview | np.ndarray, max_pixels: int = 0
) -> DecodedImage:
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG; colour or grey) to BGR.

    The size limit is checked from the header before decoding, so an oversized frame costs
    nothing. A truncated JPEG (no end-of-image marker) is rejected: libjpeg would otherwise
    return a half-grey picture with only a warning.
    """
    raw = bytes(data) if not isinstance(data, bytes) else data
    if not raw:
        raise FrameRejectedError(
            "zero_size", f"compressed image ({fmt or 'no format'}) has no data"
        )
    kind, width, height = compressed_size(raw)
    _check_size(width, height, max_pixels)
    if kind == "jpeg" and not raw.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise FrameRejectedError("corrupt_compressed", "JPEG is truncated (no end-of-image marker)")
    pixels = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or pixels.shape[:2] != (height, width):
        raise FrameRejectedError("corrupt_compressed", f"{kind.upper()} data could not be decoded")
    return DecodedImage(pixels, "bgr")
