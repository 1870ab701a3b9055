"""Calibration frames for INT8: an image folder or a rosbag2 bag, letterboxed into network input.

Both INT8 paths read real frames through here: ``mtl-quantize`` (ONNX Runtime static QDQ
calibration) and ``mtl-build-engine --calib`` (TensorRT's entropy calibrator). Frames go
through the same letterbox the node uses, so calibration sees exactly what inference sees:
uint8 NHWC RGB, padded with the model's pad value. No torch here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from mtl_perception.common.constants import PAD_VALUE
from mtl_perception.common.errors import MtlError
from mtl_perception.inference.letterbox import Letterbox

LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class CalibrationError(MtlError, ValueError):
    """The calibration source holds no usable frames (message says what was found)."""


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` or below it, in a stable (sorted) order."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def iter_frames(source: str | Path, topic: str | None = None) -> Iterator[np.ndarray]:
    """uint8 RGB frames of any size from an image folder or a rosbag2 bag."""
    path = Path(source)
    from mtl_perception.io import rosbag2
    if rosbag2.is_bag(path):
        for frame in rosbag2.read_image_frames(path, topic):
            yield frame.rgb
        return
    if not path.is_dir():
        raise CalibrationError(f"{path}: expected an image folder or a rosbag2 bag directory")
    files = image_files(path)
    if not files:
        raise CalibrationError(f"{path} holds no {'/'.join(IMAGE_SUFFIXES)} images")
    for file in files:
        bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if bgr is None:
            LOG.warning("skipping unreadable image %s", file)
            continue
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def letterboxed(
    frames: Iterator[np.ndarray], hw: tuple[int, int], pad_value: int = PAD_VALUE
) -> Iterator[np.ndarray]:
    """Each frame resized-and-padded into uint8 [H, W, 3] by the shared letterbox."""
    for rgb in frames:
        box = Letterbox.fit(rgb.shape[:2], hw)
        yield box.apply(rgb, hw, pad_value)


def calibration_batches(
    source: str | Path,
    hw: tuple[int, int],
    batch_size: int = 1,
    limit: int | None = None,
    every: int = 1,
    pad_value: int = PAD_VALUE,
    topic: str | None = None,
) -> Iterator[np.ndarray]:
    """uint8 [batch_size, H, W, 3] batches of network input from ``source``.

    ``every`` keeps every n-th frame (consecutive bag frames are near-duplicates and add no
    information); ``limit`` caps the number of frames used. A final partial batch is dropped,
    since TensorRT calibrators need a fixed batch size.
    """
    if batch_size < 1 or every < 1:
        raise ValueError("batch_size and every must be >= 1")
    batch = np.empty((batch_size, hw[0], hw[1], 3), dtype=np.uint8)
    filled = used = 0
    for index, frame in enumerate(letterboxed(iter_frames(source, topic), hw, pad_value)):
        if index % every:
            continue
        if limit is not None and used >= limit:
            break
        batch[filled] = frame
        filled += 1
        used += 1
        if filled == batch_size:
            yield batch.copy()
            filled = 0
    if used == 0:
        raise CalibrationError(f"{source} gave no frames for calibration")
    if filled:
        LOG.info("dropped the last %d frame(s): not a full batch of %d", filled, batch_size)
