"""io.rosbag2 writes bags that read back exactly, and that rclpy decodes the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtl_perception.common.types import BoxLabel
from mtl_perception.io import rosbag2


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (36, 64, 3), dtype=np.uint8) for _ in range(n)]


def _solid() -> np.ndarray:
    return np.broadcast_to(np.array([200, 60, 10], np.uint8), (36, 64, 3)).copy()


@pytest.mark.parametrize("storage", rosbag2.STORAGES)
def test_images_detections_masks_round_trip(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    frames = _frames(4)
    stamps = [1_700_000_000_000_000_000 + i * 100_000_000 for i in range(4)]
    with rosbag2.BagWriter(bag, storage) as writer:
        for rgb, stamp in zip(frames, stamps, strict=True):
            writer.add_image("/cam/image_raw", rgb, stamp, "cam")
            writer.add_image("/cam/image_raw/compressed", _solid(), stamp, "cam",
                             compressed=True, jpeg_quality=95)
            writer.add_camera_info("/cam/camera_info", 64, 36, stamp, "cam")
            writer.add_detections("/gt", [BoxLabel(1, 2, 30, 20, "car", 0.5)], stamp, "cam")
            writer.add_mask("/mask", (rgb[..., 0] > 128).astype(np.uint8), stamp, "cam")

    assert {t.name: t.count for t in rosbag2.topics(bag)} == {
        "/cam/image_raw": 4, "/cam/image_raw/compressed": 4, "/cam/camera_info": 4, "/gt": 4,
        "/mask": 4,
    }
    raw = list(rosbag2.read_image_frames(bag, "/cam/image_raw"))
    assert [f.stamp_ns for f in raw] == stamps
    assert all(f.frame_id == "cam" for f in raw)
    for got, want in zip(raw, frames, strict=True):
        np.testing.assert_array_equal(got.rgb, want)
    jpeg = list(rosbag2.read_image_frames(bag, "/cam/image_raw/compressed"))
    assert [f.stamp_ns for f in jpeg] == stamps
    # JPEG is lossy; a flat colour survives it, and shows the channel order is right.
    assert np.abs(jpeg[0].rgb.astype(int) - _solid()).max() <= 3
    assert rosbag2.read_detections(bag, "/gt")[stamps[2]] == [
        BoxLabel(1, 2, 30, 20, "car", 0.5)
    ]
    np.testing.assert_array_equal(
        rosbag2.read_masks(bag, "/mask")[stamps[1]], (frames[1][..., 0] > 128).astype(np.uint8)
    )
    with pytest.raises(rosbag2.BagError, match="not an image type"):
        rosbag2.pick_image_topic(bag, "/gt")


def test_bgr_and_padded_rows_decode_to_rgb() -> None:
    rgb = _frames(1)[0]
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    padded = np.zeros((36, 64 * 3 + 8), np.uint8)
    padded[:, : 64 * 3] = bgr.reshape(36, -1)
    out = rosbag2.raw_image_to_rgb(padded.reshape(-1), 36, 64, 64 * 3 + 8, "bgr8")
    np.testing.assert_array_equal(out, rgb)
    with pytest.raises(rosbag2.BagError, match="unsupported_encoding"):
        rosbag2.raw_image_to_rgb(padded.reshape(-1), 36, 64, 200, "hsv8")


def test_rclpy_reads_the_cdr_we_write(tmp_path: Path) -> None:
    serialization = pytest.importorskip("rclpy.serialization")
    from vision_msgs.msg import Detection2DArray

    bag = tmp_path / "bag"
    with rosbag2.BagWriter(bag) as writer:
        writer.add_detections("/gt", [BoxLabel(10, 20, 50, 60, "bus", 0.7)], 5, "cam")
    (_, _, _, data), = rosbag2.read_raw(bag)
    msg = serialization.deserialize_message(data, Detection2DArray)
    det = msg.detections[0]
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == (30.0, 40.0)
    assert (det.bbox.size_x, det.bbox.size_y) == (40.0, 40.0)
    assert det.results[0].hypothesis.class_id == "bus"
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 5


def test_existing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(rosbag2.BagError, match="exists already"):
        rosbag2.BagWriter(tmp_path)
