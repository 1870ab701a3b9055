"""mtl-bdd2bag writes bags that read back with the right frames, stamps and images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_perception.common.types import BoxLabel
from mtl_perception.devtools import bdd2bag
from mtl_perception.io import rosbag2, sources

W, H, N = 96, 64, 6


def _write_video(path: Path, n: int = N) -> list[np.ndarray]:
    """A tiny mp4v video; returns the frames as OpenCV decodes them back (RGB)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    assert writer.isOpened()
    for i in range(n):
        frame = np.full((H, W, 3), 40, np.uint8)
        cv2.rectangle(frame, (5 + 10 * i, 10), (25 + 10 * i, 40), (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        decoded.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return decoded


@pytest.mark.parametrize("storage", rosbag2.STORAGES)
def test_video_to_bag_reads_back(tmp_path: Path, storage: str) -> None:
    video = tmp_path / "drive-a.mp4"
    decoded = _write_video(video)
    assert len(decoded) == N
    bag = tmp_path / "bag"
    rc = bdd2bag.main([str(video), "--out", str(bag), "--storage", storage, "--start-time",
                       "100.5", "--frame-id", "cam0", "--camera-info", "--no-progress"])
    assert rc == 0
    topics = {t.name: (t.msgtype, t.count) for t in rosbag2.topics(bag)}
    assert topics == {"/camera/image_raw": (rosbag2.IMAGE, N),
                      "/camera/camera_info": (rosbag2.CAMERA_INFO, N)}
    frames = list(rosbag2.read_image_frames(bag))
    # 10 fps from the container; stamps start at --start-time.
    assert [f.stamp_ns for f in frames] == [100_500_000_000 + i * 100_000_000 for i in range(N)]
    assert {f.frame_id for f in frames} == {"cam0"}
    for got, want in zip(frames, decoded, strict=True):
        np.testing.assert_array_equal(got.rgb, want)
    sqlite_or_mcap = {"mcap": ".mcap", "sqlite3": ".db3"}[storage]
    assert any(p.suffix == sqlite_or_mcap for p in bag.iterdir())


def test_compressed_resize_rate_and_labels(tmp_path: Path) -> None:
    video = tmp_path / "drive-b.mp4"
    _write_video(video)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([
        {"videoName": "drive-b", "frameIndex": 2, "labels": [
            {"id": "1", "category": "car", "box2d": {"x1": 10, "y1": 20, "x2": 50, "y2": 60}}]},
    ]))
    bag = tmp_path / "bag"
    rc = bdd2bag.main([str(video), "--out", str(bag), "--compressed", "--jpeg-quality", "80",
                       "--resize", "32x48", "--rate", "4", "--start-time", "0",
                       "--labels", str(labels), "--no-progress"])
    assert rc == 0
    frames = list(rosbag2.read_image_frames(bag, "/camera/image_raw/compressed"))
    assert len(frames) == N and frames[0].rgb.shape == (32, 48, 3)
    assert frames[1].stamp_ns == 250_000_000
    gt = rosbag2.read_detections(bag, bdd2bag.DEFAULT_GT_TOPIC)
    assert list(gt) == [frames[2].stamp_ns]
    assert gt[frames[2].stamp_ns] == [BoxLabel(5, 10, 25, 30, "car")]  # scaled by 0.5


def test_unreadable_images_are_skipped_and_bag_finalized(tmp_path: Path, capsys) -> None:
    images = tmp_path / "seq"
    images.mkdir()
    for i in range(4):
        cv2.imwrite(str(images / f"f{i:03d}.png"), np.full((H, W, 3), 30 * i, np.uint8))
    (images / "f001.png").write_bytes(b"not a png")
    bag = tmp_path / "bag"
    assert bdd2bag.main([str(images), "--out", str(bag), "--no-progress", "--start-time", "1"]) == 0
    assert "1 unreadable frames skipped" in capsys.readouterr().out
    frames = list(rosbag2.read_image_frames(bag))
    # Frame 1 is missing; the others keep their slot in time (10 Hz default for images).
    assert [f.stamp_ns for f in frames] == [1_000_000_000, 1_200_000_000, 1_300_000_000]
    assert (bag / "metadata.yaml").is_file()
    # The source names travel in the bag's metadata, so labels can be matched later.
    assert sources.bag_frame_names(bag) == ["f000.png", "f002.png", "f003.png"]


def test_folder_of_videos_gives_one_bag_each(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    _write_video(videos / "one.mov", 3)
    _write_video(videos / "two.mp4", 4)
    out = tmp_path / "bags"
    assert bdd2bag.main([str(videos), "--out", str(out), "--no-progress",
                         "--storage", "sqlite3"]) == 0
    assert [len(list(rosbag2.read_image_frames(out / n))) for n in ("one", "two")] == [3, 4]


def test_a_width_first_size_is_refused_in_one_line(tmp_path: Path) -> None:
    """Sizes are HxW everywhere; 640x360 (width first) is refused with the expected form."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from mtl_perception.cli.entry_points import "
         "mtl_bdd2bag; sys.exit(mtl_bdd2bag())", str(tmp_path), "--out", str(tmp_path / "b"),
         "--resize", "640x360"], capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "expected HxW (height first, e.g. 360x640)" in lines[-1]
