"""Calibration frames: folder and bag sources batched into the network's uint8 NHWC input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_perception.deploy.calibration import (
    CalibrationError,
    calibration_batches,
    iter_frames,
)
from mtl_perception.inference.letterbox import Letterbox
from mtl_perception.io import rosbag2

HW = (64, 96)


def _frame(i: int, h: int = 72, w: int = 128) -> np.ndarray:
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    rgb[..., 0] = 10 * i  # red channel encodes the index: checks order and RGB (not BGR)
    rgb[..., 2] = 200
    return rgb


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_frames_are_rgb_in_name_order(folder: Path) -> None:
    frames = list(iter_frames(folder))
    assert len(frames) == 5
    assert [int(f[0, 0, 0]) for f in frames] == [0, 10, 20, 30, 40]
    assert int(frames[0][0, 0, 2]) == 200


def test_batches_are_letterboxed_network_input(folder: Path) -> None:
    batches = list(calibration_batches(folder, HW, batch_size=2))
    assert len(batches) == 2  # 5 frames -> two full batches, the fifth dropped
    for b in batches:
        assert b.shape == (2, 64, 96, 3) and b.dtype == np.uint8
    expected = Letterbox.fit((72, 128), HW).apply(_frame(3), HW, 114)
    np.testing.assert_array_equal(batches[1][1], expected)
    # 72x128 -> 54x96 centred: 5 rows of padding top and bottom
    assert (batches[0][0, :5] == 114).all() and (batches[0][0, -5:] == 114).all()


def test_every_and_limit_subsample(folder: Path) -> None:
    batches = list(calibration_batches(folder, HW, batch_size=1, every=2, limit=2))
    assert [int(b[0, 32, 48, 0]) for b in batches] == [0, 20]


def test_empty_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="holds no"):
        list(calibration_batches(tmp_path, HW))


def test_missing_source_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="image folder or a rosbag2 bag"):
        list(calibration_batches(tmp_path / "nope", HW))


@pytest.mark.parametrize("compressed", [False, True])
def test_bag_frames_feed_the_same_batches(tmp_path: Path, compressed: bool) -> None:
    bag = tmp_path / "bag"
    with rosbag2.BagWriter(bag) as writer:
        for i in range(4):
            writer.add_image("/camera/image_raw", _frame(i), 1_000_000 * (i + 1), "cam",
                             compressed=compressed)
    batches = list(calibration_batches(bag, HW, batch_size=2))
    assert len(batches) == 2 and batches[0].shape == (2, 64, 96, 3)
    tolerance = 3 if compressed else 0  # JPEG is close, raw is exact
    centre = [int(b[j, 32, 48, 0]) for b in batches for j in range(2)]
    assert all(abs(c - 10 * i) <= tolerance for i, c in enumerate(centre)), centre
