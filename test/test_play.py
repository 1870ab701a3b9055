"""mtl-play publishes every frame of a bag, in order, to a real rclpy subscriber."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mtl_perception.devtools import play
from mtl_perception.io import rosbag2

rclpy = pytest.importorskip("rclpy")

pytestmark = pytest.mark.ros
N = 12


def _bag(path: Path) -> list[int]:
    stamps = [5_000_000_000 + i * 100_000_000 for i in range(N)]
    with rosbag2.BagWriter(path) as writer:
        for i, stamp in enumerate(stamps):
            writer.add_image("/cam/image_raw", np.full((120, 160, 3), i, np.uint8), stamp, "cam")
    return stamps


def _play(bag: Path, qos: str, *extra: str) -> tuple[int, list[tuple[int, int, str]], str,
                                                      float, set[str]]:
    """Run mtl-play on ``bag`` into a sink on /remapped/image: (exit code, received,
    stderr, seconds until the last frame, node names seen while it ran)."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    context = rclpy.Context()
    rclpy.init(context=context)
    received: list[tuple[int, int, str]] = []
    names: set[str] = set()
    proc = None
    try:
        node = rclpy.create_node("play_sink", context=context)
        # A best-effort subscription matches both publisher QoS choices.
        node.create_subscription(
            Image, "/remapped/image",
            lambda m: received.append((m.header.stamp.sec * 10**9 + m.header.stamp.nanosec,
                                       m.data[0], m.encoding)),
            play.qos_profile("sensor_data", depth=N),
        )
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mtl_perception.devtools.play", str(bag),
             "--rate", "2", "--qos", qos, "--remap", "/cam/image_raw:=/remapped/image",
             "--wait-for-subscribers", "1", "--wait-timeout", "20", *extra],
            env=os.environ.copy(), stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 40
        while len(received) < N and time.monotonic() < deadline and proc.poll() is None:
            executor.spin_once(timeout_sec=0.05)
            names.update(node.get_node_names())
        end = time.monotonic() + 1.0
        while len(received) < N and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        elapsed = time.monotonic() - t0
        _, err = proc.communicate(timeout=20)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        if proc is not None and proc.poll() is None:
            proc.kill()
    return proc.returncode, received, err, elapsed, names


@pytest.mark.parametrize("qos", ["sensor_data", "reliable"])
def test_play_delivers_every_frame_in_order(tmp_path: Path, qos: str) -> None:
    stamps = _bag(tmp_path / "bag")
    rc, received, err, elapsed, _ = _play(tmp_path / "bag", qos)
    assert rc == 0, err
    assert [r[0] for r in received] == stamps, err
    assert [r[1] for r in received] == list(range(N))
    assert {r[2] for r in received} == {"rgb8"}
    assert "published 12 messages" in err
    # 1.1 s of recording at --rate 2 takes at least 0.55 s.
    assert elapsed >= 0.55


def test_play_remap_is_its_own_and_ros_args_reach_rclpy(tmp_path: Path) -> None:
    """``--remap A:=B`` is mtl-play's option: rcl must not see it (it would warn "This syntax
    is deprecated" and apply it as a remap rule); ``--ros-args`` still reach rclpy."""
    _bag(tmp_path / "bag")
    rc, received, err, _, names = _play(tmp_path / "bag", "reliable",
                                        "--ros-args", "-r", "__node:=play_under_test")
    assert rc == 0, err
    assert "deprecated" not in err, err
    assert len(received) == N, err  # the option took effect: frames on /remapped/image
    assert "play_under_test" in names, sorted(names)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_play_exits_cleanly_on_repeated_signals(tmp_path: Path, sig: int) -> None:
    """Ctrl-C in a terminal (or launch) may deliver several signals: exit 0, no traceback."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    _bag(tmp_path / "bag")
    context = rclpy.Context()
    rclpy.init(context=context)
    received: list[int] = []
    proc = None
    try:
        node = rclpy.create_node("play_sink", context=context)
        node.create_subscription(Image, "/cam/image_raw", lambda m: received.append(1),
                                 play.qos_profile("sensor_data", depth=N))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mtl_perception.devtools.play", str(tmp_path / "bag"),
             "--loop", "--wait-for-subscribers", "1", "--wait-timeout", "30"],
            env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 40
        while len(received) < 2 and time.monotonic() < deadline and proc.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        assert received, "mtl-play never published"
        for _ in range(3):
            proc.send_signal(sig)
            time.sleep(0.01)
        _, err = proc.communicate(timeout=30)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        if proc is not None and proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert "mtl-play: published" in err


def test_schedule_scales_recorded_gaps() -> None:
    msgs = [("/a", "t", 10_000_000_000 + k * 200_000_000, b"") for k in range(3)]
    assert [round(s[0], 6) for s in play.schedule(msgs, 2.0)] == [0.0, 0.1, 0.2]


def test_bad_remap_is_refused() -> None:
    with pytest.raises(ValueError, match="FROM:=TO"):
        play.parse_remaps(["/a=/b"])
