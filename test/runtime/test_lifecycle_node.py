"""The managed node driven through the real lifecycle_msgs services, over Fast DDS.

One node process (``mtl_perception.ros.lifecycle_node``) goes through: a configure that
fails (missing model: FAILURE, the one-line reason logged, still unconfigured), the model
path fixed with a parameter, configure, activate (frames answered), deactivate (no
subscription, no answers, CPU over 5 s near zero), cleanup, configure and activate again,
and shutdown straight from active.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")
pytest.importorskip("lifecycle_msgs")

from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from node_fixture_model import build_constant_model  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/lc/perception"
INACTIVE_CPU_BOUND_S = 0.5  # of 5 s wall: 10 % of one core, generous for DDS housekeeping


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("lifecycle_test_client", context=self.context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.node.create_publisher(Image, "/lc/image", qos)
        self.lock = threading.Lock()
        self.stamps: set[int] = set()
        self.node.create_subscription(Detection2DArray, "/lc/detections", self._on_det, qos)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.msg = Image(encoding="bgr8", height=720, width=1280, step=1280 * 3)
        self.msg.data = np.full((720, 1280, 3), 60, np.uint8).tobytes()
        self.msg.header.frame_id = "lc_camera"

    def _on_det(self, msg: Detection2DArray) -> None:
        with self.lock:
            self.stamps.add(msg.header.stamp.sec)

    def call(self, srv: Any, name: str, request: Any, timeout: float = 30.0) -> Any:
        client = self.node.create_client(srv, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"{name} not available"
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert future.done(), f"{name} did not answer"
            return future.result()
        finally:
            self.node.destroy_client(client)

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return bool(self.call(ChangeState, f"{NODE}/change_state", request).success)

    def state(self) -> int:
        return int(self.call(GetState, f"{NODE}/get_state", GetState.Request()).current_state.id)

    def set_string(self, name: str, value: str) -> Any:
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=pv)])
        return self.call(SetParameters, f"{NODE}/set_parameters", request).results[0]

    def answered(self, sec: int, timeout: float = 10.0) -> bool:
        """Publish frame ``sec`` (again every 0.5 s) until its detections come back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.msg.header.stamp.sec = sec
            self.pub.publish(self.msg)
            end = min(deadline, time.monotonic() + 0.5)
            while time.monotonic() < end:
                with self.lock:
                    if sec in self.stamps:
                        return True
                time.sleep(0.02)
        return False

    def subscribers(self) -> int:
        return self.pub.get_subscription_count()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_all_transitions_through_lifecycle_services(tmp_path: Path) -> None:
    model = build_constant_model(tmp_path / "constant.onnx")
    missing = tmp_path / "missing.onnx"
    log = tmp_path / "node.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtl_perception.ros.lifecycle_node", "--ros-args",
         "-r", "__ns:=/lc", "-p", f"model_path:={missing}", "-p", "backend:=onnxruntime"],
        stdout=log.open("w"), stderr=subprocess.STDOUT)
    client = Client()
    try:
        assert client.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert client.subscribers() == 0

        assert client.transition(Transition.TRANSITION_CONFIGURE) is False
        assert client.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert f"cannot configure: model file not found: {missing}" in log.read_text()

        assert client.set_string("model_path", str(model)).successful
        assert client.transition(Transition.TRANSITION_CONFIGURE) is True
        assert client.state() == State.PRIMARY_STATE_INACTIVE
        assert client.subscribers() == 0, "an inactive node must not subscribe"

        assert client.transition(Transition.TRANSITION_ACTIVATE) is True
        assert client.state() == State.PRIMARY_STATE_ACTIVE
        assert _wait(lambda: client.subscribers() == 1)
        assert client.answered(1), f"active node did not answer; log:\n{log.read_text()}"
        refused = client.set_string("model_path", str(missing))
        assert not refused.successful and "only while unconfigured" in refused.reason

        assert client.transition(Transition.TRANSITION_DEACTIVATE) is True
        assert client.state() == State.PRIMARY_STATE_INACTIVE
        assert _wait(lambda: client.subscribers() == 0), "deactivate must unsubscribe"
        assert not client.answered(2, timeout=1.0)
        time.sleep(0.5)
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(5.0)
        cpu, wall = _cpu_seconds(proc.pid) - cpu0, time.monotonic() - t0
        assert cpu <= INACTIVE_CPU_BOUND_S, f"inactive node used {cpu:.2f} s CPU in {wall:.1f} s"

        assert client.transition(Transition.TRANSITION_CLEANUP) is True
        assert client.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert client.transition(Transition.TRANSITION_CONFIGURE) is True
        assert client.transition(Transition.TRANSITION_ACTIVATE) is True
        assert client.answered(3), "re-activated node did not answer"

        assert client.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN) is True
        assert client.state() == State.PRIMARY_STATE_FINALIZED
        assert _wait(lambda: client.subscribers() == 0)
    finally:
        client.close()
        proc.send_signal(subprocess.signal.SIGINT)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert code == 0, f"exit {code}; log:\n{log.read_text()}"
    print(f"inactive CPU: {cpu:.3f} s in {wall:.1f} s")
