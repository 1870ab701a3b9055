"""The perception node through real rclpy and Fast DDS, in separate processes.

One fixture publisher process sends 1280x720 bgr8 and JPEG frames on command; two node
processes serve them: ``/raw`` (raw transport, with a fault-injecting backend wrapper) and
``/jpeg`` (the real ``perception_node`` console script, compressed transport, the shipped
config file). The model is an ONNX graph with known constant outputs, so boxes are checked
exactly in original-image pixels.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from node_fixture_model import build_constant_model  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import GetParameters, SetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

pytestmark = pytest.mark.ros

FIXTURES = Path(__file__).resolve().parents[1]  # the shared node fixtures live in test/
CONFIG = FIXTURES.parent / "config" / "perception.yaml"
NODE_SCRIPT = Path(sys.executable).with_name("perception_node")
TOPICS = {"detections": Detection2DArray, "drivable_area/mask": Image, "lane/mask": Image,
          "overlay": Image}
# ground truth (see node_fixture_model.known_outputs): name, score, cx, cy, w, h in 1280x720
EXPECTED = [("car", 0.9, 300.0, 200.0, 200.0, 200.0),
            ("pedestrian", 0.8, 640.0, 280.0, 80.0, 160.0),
            ("truck", 0.7, 1240.0, 28.0, 80.0, 56.0)]


class Harness:
    """The test's own node: subscribes to both nodes' outputs and drives the publisher."""

    def __init__(self, publisher: subprocess.Popen[str]) -> None:
        self.publisher = publisher
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("node_test_harness", context=self.context)
        self.lock = threading.Lock()
        self.got: dict[tuple[str, str], dict[int, Any]] = defaultdict(dict)
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.labels: dict[str, LabelInfo] = {}
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        for ns in ("raw", "jpeg"):
            for topic, msg_type in TOPICS.items():
                self.node.create_subscription(
                    msg_type, f"/{ns}/{topic}", self._store(ns, topic), qos)
            latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.node.create_subscription(
                LabelInfo, f"/{ns}/label_info",
                lambda msg, ns=ns: self.labels.__setitem__(ns, msg), latched)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _store(self, ns: str, topic: str):
        def callback(msg: Any) -> None:
            with self.lock:
                self.got[(ns, topic)][msg.header.stamp.sec] = msg
        return callback

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            with self.lock:
                self.diagnostics[status.hardware_id] = {kv.key: kv.value for kv in status.values}

    def send(self, ns: str, kind: str, sec: int) -> None:
        assert self.publisher.stdin and self.publisher.stdout
        self.publisher.stdin.write(f"{ns} {kind} {sec}\n")
        self.publisher.stdin.flush()
        line = self.publisher.stdout.readline()
        assert line.strip() == f"sent {sec}", f"publisher said {line!r}"

    def wait_for(self, ns: str, topic: str, sec: int, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if sec in self.got[(ns, topic)]:
                    return self.got[(ns, topic)][sec]
            time.sleep(0.02)
        return None

    def has(self, ns: str, topic: str, sec: int) -> bool:
        with self.lock:
            return sec in self.got[(ns, topic)]

    def diag(self, ns: str, key: str, timeout: float = 5.0, at_least: int = 0) -> str:
        """Latest diagnostics value (waiting until an integer value reaches ``at_least``)."""
        deadline = time.monotonic() + timeout
        value = ""
        while True:
            with self.lock:
                value = self.diagnostics.get(f"/{ns}/perception", {}).get(key, "")
            if value and (not at_least or int(value) >= at_least):
                return value
            if time.monotonic() >= deadline:
                return value
            time.sleep(0.05)

    def call(self, service_type: Any, name: str, request: Any) -> Any:
        client = self.node.create_client(service_type, name)
        assert client.wait_for_service(timeout_sec=10.0), f"{name} not available"
        future = client.call_async(request)
        deadline = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.node.destroy_client(client)
        assert future.done(), f"{name} did not answer"
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _node_args(model: Path, ns: str, *extra: str) -> list[str]:
    return ["--ros-args", "-r", f"__ns:=/{ns}", "--params-file", str(CONFIG),
            "-p", f"model_path:={model}", "-p", "warn_throttle_sec:=0.0", *extra]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    model = build_constant_model(tmp_path_factory.mktemp("node") / "constant.onnx")
    logs = tmp_path_factory.mktemp("logs")
    procs = [
        subprocess.Popen(
            [sys.executable, str(FIXTURES / "node_fixture_node.py"),
             *_node_args(model, "raw", "-p", f"max_image_pixels:={1280 * 720}")],
            stdout=(logs / "raw.log").open("w"), stderr=subprocess.STDOUT),
        subprocess.Popen(
            [str(NODE_SCRIPT), *_node_args(model, "jpeg", "-p", "input_transport:=compressed")],
            stdout=(logs / "jpeg.log").open("w"), stderr=subprocess.STDOUT),
    ]
    publisher = subprocess.Popen(
        [sys.executable, str(FIXTURES / "node_fixture_publisher.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(publisher)
    h = Harness(publisher)
    h.logs = logs  # type: ignore[attr-defined]
    try:
        # Warm up: discovery of every topic, then the first output of each node.
        for ns, kind in (("raw", "good"), ("jpeg", "jpeg")):
            for attempt in range(40):
                dead = [p.args for p in procs if p.poll() is not None]
                assert not dead, f"exited early: {dead}\n{(logs / f'{ns}.log').read_text()}"
                h.send(ns, kind, 1 + attempt)
                if h.wait_for(ns, "lane/mask", 1 + attempt, timeout=0.5) is not None:
                    break
            else:
                pytest.fail(f"/{ns} never answered; log:\n{(logs / f'{ns}.log').read_text()}")
        yield h
    finally:
        h.close()
        for proc in procs:
            if proc is publisher and proc.stdin:
                proc.stdin.close()
            else:
                proc.send_signal(subprocess.signal.SIGINT)
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=10))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        assert codes[:2] == [0, 0], f"nodes must exit 0 on SIGINT, got {codes[:2]}"


def _check_frame(h: Harness, ns: str, sec: int, overlay: bool = True) -> Detection2DArray:
    det = h.wait_for(ns, "detections", sec)
    with h.lock:
        seen = {t: sorted(h.got[(ns, t)]) for t in TOPICS}
    assert det is not None, f"/{ns}: no detections for frame {sec}; received {seen}"
    for topic in ["drivable_area/mask", "lane/mask"] + (["overlay"] if overlay else []):
        msg = h.wait_for(ns, topic, sec)
        assert msg is not None, f"/{ns}: no {topic} for frame {sec}"
        assert (msg.width, msg.height) == (1280, 720)
        assert msg.header.frame_id == f"camera_{ns}"
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (sec, 123456789)
    assert det.header.frame_id == f"camera_{ns}"
    assert (det.header.stamp.sec, det.header.stamp.nanosec) == (sec, 123456789)
    return det


def _assert_expected_boxes(det: Detection2DArray) -> None:
    got = [(d.results[0].hypothesis.class_id, d.results[0].hypothesis.score,
            d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y)
           for d in det.detections]
    assert [g[0] for g in got] == [e[0] for e in EXPECTED]
    np.testing.assert_allclose([g[1:] for g in got], [e[1:] for e in EXPECTED], atol=1e-4)
    assert all(d.header.stamp == det.header.stamp for d in det.detections)


@pytest.mark.parametrize("ns,kind", [("raw", "good"), ("raw", "padded"), ("jpeg", "jpeg")])
def test_frame_in_all_outputs_out(harness: Harness, ns: str, kind: str) -> None:
    sec = {"good": 100, "padded": 101, "jpeg": 102}[kind]
    harness.send(ns, kind, sec)
    det = _check_frame(harness, ns, sec)
    _assert_expected_boxes(det)
    drivable = harness.wait_for(ns, "drivable_area/mask", sec)
    assert drivable.encoding == "mono8" and drivable.step == 1280
    mask = np.frombuffer(drivable.data, np.uint8).reshape(720, 1280)
    assert (mask[:376] == 0).all() and (mask[376:] == 1).all()
    lane = np.frombuffer(harness.wait_for(ns, "lane/mask", sec).data, np.uint8)
    assert np.flatnonzero(lane.reshape(720, 1280)[0]).tolist() == [640, 641, 642, 643]
    overlay = harness.wait_for(ns, "overlay", sec)
    assert overlay.encoding == "bgr8" and overlay.step == 1280 * 3


def test_label_info_is_latched(harness: Harness) -> None:
    deadline = time.monotonic() + 5
    while len(harness.labels) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    for ns in ("raw", "jpeg"):
        names = [(c.class_id, c.class_name) for c in harness.labels[ns].class_map]
        assert names == [(0, "pedestrian"), (1, "rider"), (2, "car"), (3, "truck")]


@pytest.mark.parametrize(
    "ns,kind,reason",
    [("raw", "bad_step", "bad_step"), ("raw", "truncated", "truncated"),
     ("raw", "zero_size", "zero_size"), ("raw", "unsupported", "unsupported_encoding"),
     ("raw", "too_large", "too_large"), ("jpeg", "jpeg_corrupt", "corrupt_compressed")],
)
def test_bad_frame_rejected_then_next_good_frame_served(
    harness: Harness, ns: str, kind: str, reason: str
) -> None:
    before = int(harness.diag(ns, f"rejected_{reason}", timeout=0.0) or 0)
    bad, good = 200 + 2 * len(reason) + len(kind), 300 + 2 * len(reason) + len(kind)
    harness.send(ns, kind, bad)
    time.sleep(0.3)  # let the bad frame reach the callback before the good one replaces it
    harness.send(ns, "jpeg" if ns == "jpeg" else "good", good)
    _check_frame(harness, ns, good)
    assert not harness.has(ns, "detections", bad), "a rejected frame produced output"
    assert int(harness.diag(ns, f"rejected_{reason}", at_least=before + 1)) == before + 1
    log = (harness.logs / f"{ns}.log").read_text()  # type: ignore[attr-defined]
    assert f"rejected frame camera_{ns}@{bad}." in log


def test_backend_exception_is_counted_and_node_keeps_serving(harness: Harness) -> None:
    harness.send("raw", "white", 400)
    time.sleep(0.3)  # input depth is 1: let the faulty frame reach the node first
    harness.send("raw", "good", 401)
    _check_frame(harness, "raw", 401)
    assert not harness.has("raw", "detections", 400)
    assert int(harness.diag("raw", "frames_failed", at_least=1)) >= 1
    assert "injected backend fault" in (harness.logs / "raw.log").read_text()  # type: ignore[attr-defined]


def test_latest_frame_wins_and_replaced_frames_are_dropped(harness: Harness) -> None:
    before = int(harness.diag("raw", "frames_dropped", timeout=0.0) or 0)
    harness.send("raw", "slow", 500)  # the backend sleeps 1 s on this one
    time.sleep(0.2)
    for sec in (501, 502, 503):
        harness.send("raw", "good", sec)
        time.sleep(0.05)
    _check_frame(harness, "raw", 503)
    assert harness.wait_for("raw", "detections", 500) is not None
    assert not harness.has("raw", "detections", 501) and not harness.has("raw", "detections", 502)
    assert int(harness.diag("raw", "frames_dropped", at_least=before + 1)) >= before + 1


def test_diagnostics_report_rate_latency_and_counts(harness: Harness) -> None:
    for sec in range(600, 606):
        harness.send("raw", "good", sec)
        time.sleep(0.05)
    _check_frame(harness, "raw", 605)
    time.sleep(1.2)
    with harness.lock:
        values = dict(harness.diagnostics["/raw/perception"])
    for key in ("rate_hz", "frames_dropped", "frames_rejected", "frames_processed",
                "end_to_end_ms_p50", "end_to_end_ms_p99", "inference_ms_p50",
                "preprocess_ms_p99", "postprocess_ms_p50", "publish_ms_p50", "overhead_ms_p50"):
        assert key in values, f"{key} missing from /diagnostics: {sorted(values)}"
    assert float(values["rate_hz"]) > 0
    assert 0 < float(values["end_to_end_ms_p50"]) <= float(values["end_to_end_ms_p99"])


def _set(harness: Harness, **params: Any) -> Any:
    request = SetParameters.Request()
    for name, value in params.items():
        pv = ParameterValue()
        if isinstance(value, float):
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, value
        else:
            pv.type, pv.string_array_value = ParameterType.PARAMETER_STRING_ARRAY, value
        request.parameters.append(ParameterMsg(name=name, value=pv))
    return harness.call(SetParameters, "/raw/perception/set_parameters", request).results[0]


def test_runtime_parameters_accepted_and_rejected(harness: Harness) -> None:
    accepted = _set(harness, confidence_threshold=0.75)
    assert accepted.successful, accepted.reason
    harness.send("raw", "good", 700)
    det = _check_frame(harness, "raw", 700)
    assert [d.results[0].hypothesis.class_id for d in det.detections] == ["car", "pedestrian"]

    out_of_range = _set(harness, confidence_threshold=1.5)
    assert not out_of_range.successful and "out of range" in out_of_range.reason
    unknown = _set(harness, classes=["zebra"])
    assert not unknown.successful and "unknown class 'zebra'" in unknown.reason
    request = GetParameters.Request(names=["confidence_threshold"])
    value = harness.call(GetParameters, "/raw/perception/get_parameters", request).values[0]
    assert value.double_value == pytest.approx(0.75)
    harness.send("raw", "good", 701)
    det = _check_frame(harness, "raw", 701)
    assert len(det.detections) == 2, "rejected changes must not have taken effect"
    assert _set(harness, confidence_threshold=0.25).successful
