"""A small-scale run of the whole demo (a few frames, real node over DDS), so it cannot rot.

The model is a constant ONNX graph (test/node_fixture_model.py) whose outputs are the first
frame's ground truth, so the pipeline's metrics are exercised without training.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("onnx")
from node_fixture_model import build_oracle_model

from mtl_perception.common.classes import BDD_CLASSES
from mtl_perception.devtools.demo import main as demo
from mtl_perception.evaluation.groundtruth import GroundTruth
from mtl_perception.evaluation.render import count_video_frames
from mtl_perception.io import rosbag2
from mtl_perception.synth.generate import generate_drive

pytestmark = pytest.mark.ros
SRC_HW, NET_HW, FRAMES, SEED = (224, 384), (256, 384), 6, 5


def _oracle_model(tmp: Path) -> Path:
    """Constant outputs = ground truth of the demo drive's first frame (same seed and size)."""
    root = tmp / "gt"
    names = generate_drive(root, 1, 10.0, seed=SEED, width=SRC_HW[1], height=SRC_HW[0],
                           progress=False)
    truth = GroundTruth.from_bdd_root(root, "val").frame(names[0], SRC_HW)
    return build_oracle_model(tmp / "oracle.onnx", truth, SRC_HW, NET_HW, BDD_CLASSES)


def test_demo_small_run_end_to_end(tmp_path: Path) -> None:
    model = _oracle_model(tmp_path)
    out = tmp_path / "demo_out"
    started_ns = time.time_ns()
    rc = demo.main(["--out", str(out), "--model", str(model), "--frames", str(FRAMES),
                    "--size", f"{SRC_HW[0]}x{SRC_HW[1]}", "--seed", str(SEED),
                    "--rate", "0.5", "--no-progress", "--no-check"])
    assert rc == 0
    finished_ns = time.time_ns()
    metrics = json.loads((out / "metrics.json").read_text())
    answered = metrics["n_frames"]["detection"]
    # The node keeps only the newest frame, but at 5 Hz it answers nearly every one.
    assert FRAMES - 2 <= answered <= FRAMES
    assert metrics["n_frames"]["lane"] == answered
    # Outputs for the first frame are its ground truth: the scores are real, not zeros.
    assert metrics["detection"]["yolop"]["vehicle"]["map50"] > 0.1
    assert metrics["drivable"]["yolop"]["miou"] > 0.5
    assert count_video_frames(out / "overlay.mp4") == answered
    pngs = sorted(out.glob("overlay_*.png"))
    assert pngs and cv2.imread(str(pngs[0])).shape == (*SRC_HW, 3)
    summary = (out / "summary.md").read_text()
    for needle in ("vehicle AP50", "drivable mIoU", "lane IoU", "## Latency", "end to end",
                   "mtl-bdd2bag", "perception_node --ros-args", "mtl-play"):
        assert needle in summary, needle
    recorded = {t.name: t.count for t in rosbag2.topics(out / "recorded_bag")}
    assert recorded["/perception/detections"] == answered
    assert recorded["/perception/lane/mask"] == answered
    _check_one_clock(out / "recorded_bag", started_ns, finished_ns)


def _check_one_clock(bag: Path, started_ns: int, finished_ns: int) -> None:
    """Read the bag with an independent reader: one clock (receive time) for every topic, so
    the bag lasts as long as the run did; header stamps stay the drive's own."""
    mcap_reader = pytest.importorskip("mcap.reader")
    decoder = pytest.importorskip("mcap_ros2.decoder")
    files = sorted(bag.glob("*.mcap"))
    assert files, f"no MCAP file in {bag}"
    log_ns: dict[str, list[int]] = {}
    header_ns: list[int] = []
    with open(files[0], "rb") as f:
        reader = mcap_reader.make_reader(f, decoder_factories=[decoder.DecoderFactory()])
        for _schema, channel, message, ros_msg in reader.iter_decoded_messages():
            log_ns.setdefault(channel.topic, []).append(message.log_time)
            if channel.topic == "/perception/detections":
                header_ns.append(ros_msg.header.stamp.sec * 10**9 + ros_msg.header.stamp.nanosec)
    assert "/diagnostics" in log_ns and "/perception/detections" in log_ns
    every = [t for times in log_ns.values() for t in times]
    assert started_ns <= min(every) <= max(every) <= finished_ns
    run_s = (finished_ns - started_ns) / 1e9
    assert 0 < (max(every) - min(every)) / 1e9 <= run_s
    # the detections' header stamps are the drive's (mtl-play keeps the bag's), not log times
    assert header_ns and max(header_ns) < started_ns - 10**9
    meta = (bag / "metadata.yaml").read_text()
    duration = int(meta.split("duration:")[1].split("nanoseconds:")[1].split()[0])
    assert duration / 1e9 <= run_s


def test_demo_names_the_failing_stage(tmp_path: Path, capsys) -> None:
    rc = demo.main(["--out", str(tmp_path / "o"), "--model", str(tmp_path / "missing.onnx"),
                    "--frames", "2", "--size", "64x64", "--no-progress"])
    assert rc == 1
    assert "stage 'model' failed" in capsys.readouterr().err
