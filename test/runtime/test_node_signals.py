"""Shutdown is clean under any number of SIGINTs, and on SIGTERM: exit 0, no traceback.

A terminal's Ctrl-C under ``ros2 launch`` signals the whole process group and launch forwards
another SIGINT, so the node gets two in quick succession while it is busy. Each round here
starts a batch of real perception nodes (constant ONNX model) fed by one frame publisher in
this process, waits until every node has answered a frame, then signals them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from node_fixture_model import build_constant_model  # noqa: E402

pytestmark = pytest.mark.ros
FIXTURES = Path(__file__).resolve().parents[1]  # the shared node fixtures live in test/
TOPIC = "/signals_test/image"
BATCH = 4  # nodes started together; 5 rounds make the 20 tries
ROUNDS = 5
# Generous: on a loaded 2-core machine a batch of nodes takes several seconds to start.
READY_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 30.0


class Feeder:
    """Publishes 640x360 bgr8 frames on TOPIC at ``rate`` Hz; counts each node's outputs."""

    def __init__(self, rate: float = 30.0) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("signals_feeder", context=self.context)
        self.qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.node.create_publisher(Image, TOPIC, self.qos)
        self.msg = Image(encoding="bgr8", height=360, width=640, step=640 * 3)
        self.msg.data = np.full((360, 640, 3), 40, np.uint8).tobytes()
        self.msg.header.frame_id = "signals_camera"
        self.lock = threading.Lock()
        self.outputs: dict[str, int] = {}
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self._feed = threading.Thread(target=self._publish, args=(rate,), daemon=True)
        self._feed.start()

    def watch(self, ns: str) -> None:
        from vision_msgs.msg import Detection2DArray

        with self.lock:
            self.outputs[ns] = 0
        self.node.create_subscription(Detection2DArray, f"/{ns}/detections",
                                      lambda _m, ns=ns: self._count(ns), self.qos)

    def _count(self, ns: str) -> None:
        with self.lock:
            self.outputs[ns] += 1

    def answered(self, ns: str) -> int:
        with self.lock:
            return self.outputs[ns]

    def _publish(self, rate: float) -> None:
        while not self._stop.wait(1.0 / rate):
            if self.pub.get_subscription_count() > 0:
                self.pub.publish(self.msg)

    def close(self) -> None:
        self._stop.set()
        self._feed.join(timeout=5.0)
        self.executor.shutdown(timeout_sec=1.0)
        self._spin.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_constant_model(tmp_path_factory.mktemp("signals") / "constant.onnx")


@pytest.fixture
def feeder() -> Iterator[Feeder]:
    f = Feeder()
    try:
        yield f
    finally:
        f.close()


def _start_node(model: Path, ns: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mtl_perception.ros.perception_node", "--ros-args",
             "-r", f"__ns:=/{ns}", "-r", f"image:={TOPIC}", "-p", f"model_path:={model}",
             "-p", "backend:=onnxruntime", "-p", "onnxruntime_threads:=1",
             "-p", "input_qos_reliability:=reliable", "-p", "diagnostics_period:=0.2"],
            stdout=subprocess.DEVNULL, stderr=out,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # a crash or hang shows its stacks


def _wait_all(procs: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    codes = {}
    for ns, proc in procs.items():
        try:
            codes[ns] = proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack
            try:
                codes[ns] = proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[ns] = proc.wait()
    return codes


def _run_round(feeder: Feeder, model: Path, logs: Path, first: int,
               signals: tuple[int, ...]) -> list[str]:
    """Start BATCH nodes, wait until all answer frames, signal them; the failures."""
    names = [f"sig{first + i}" for i in range(BATCH)]
    for ns in names:
        feeder.watch(ns)
    procs = {ns: _start_node(model, ns, logs / f"{ns}.log") for ns in names}
    signalled = False
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = list(names)
        while waiting and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs.values()):
                break
            time.sleep(0.1)
            waiting = [ns for ns in waiting if feeder.answered(ns) < 3]
        assert not waiting, "never answered frames: " + "; ".join(
            f"{ns}: {(logs / f'{ns}.log').read_text()}" for ns in waiting)
        for sig in signals:
            for proc in procs.values():
                proc.send_signal(sig)
            time.sleep(0.01)
        signalled = True
    finally:
        if not signalled:  # the round failed before the signals: don't wait for them
            for proc in procs.values():
                proc.kill()
        codes = _wait_all(procs)
    failures = []
    for ns, code in codes.items():
        err = (logs / f"{ns}.log").read_text()
        if code != 0 or "Traceback" in err:
            failures.append(f"{ns}: exit {code}\n{err}")
    return failures


def test_two_quick_sigints_under_load_exit_cleanly_20_times(
        feeder: Feeder, model: Path, tmp_path: Path) -> None:
    failures = []
    for r in range(ROUNDS):
        failures += _run_round(feeder, model, tmp_path, r * BATCH,
                               (signal.SIGINT, signal.SIGINT))
    assert not failures, f"{len(failures)} of {ROUNDS * BATCH} unclean:\n" + "\n".join(failures)


def test_sigterm_under_load_exits_cleanly(feeder: Feeder, model: Path, tmp_path: Path) -> None:
    failures = _run_round(feeder, model, tmp_path, 100, (signal.SIGTERM,))
    assert not failures, "\n".join(failures)


def test_sigints_during_model_loading_exit_cleanly(model: Path, tmp_path: Path) -> None:
    log = tmp_path / "loading.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(FIXTURES / "node_fixture_slow_load.py"), "--ros-args",
             "-p", f"model_path:={model}", "-p", "backend:=onnxruntime"],
            stdout=subprocess.DEVNULL, stderr=out,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # a crash or hang shows its stacks
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "loading model" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert "loading model" in log.read_text()
        for _ in range(2):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.01)
        code = proc.wait(timeout=EXIT_TIMEOUT_S)  # Ctrl-C must not wait for the model
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = log.read_text()
    assert code == 0, err
    assert "Traceback" not in err
