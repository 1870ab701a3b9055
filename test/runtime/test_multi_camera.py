"""The multi-camera node through real rclpy and Fast DDS: three cameras, one shared model.

``/multi``: ``cameras:=[front, left, right]`` with a dynamic-batch constant model (the real
node module). ``/fixed``: two cameras on a fixed-batch model (frames run one after another,
said once at startup). One fixture publisher process sends frames on command; camera ``X``
of node ``/N`` reads ``/N/X/image`` and its frames carry ``frame_id = camera_N/X``.
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
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

pytestmark = pytest.mark.ros

FIXTURES = Path(__file__).resolve().parents[1]  # the shared node fixtures live in test/
CONFIG = FIXTURES.parent / "config" / "perception.yaml"
CAMERAS = ("front", "left", "right")
STREAMS = [("multi", c) for c in CAMERAS] + [("fixed", c) for c in ("a", "b")]
TOPICS = {"detections": Detection2DArray, "drivable_area/mask": Image, "lane/mask": Image}
EXPECTED_CLASSES = ["car", "pedestrian", "truck"]


class Harness:
    def __init__(self, publisher: subprocess.Popen[str]) -> None:
        self.publisher = publisher
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("multi_camera_test_harness", context=self.context)
        self.lock = threading.Lock()
        self.got: dict[tuple[str, str], dict[int, Any]] = defaultdict(dict)
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.labels: list[LabelInfo] = []
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        for ns, cam in STREAMS:
            for topic, msg_type in TOPICS.items():
                self.node.create_subscription(msg_type, f"/{ns}/{cam}/{topic}",
                                              self._store(f"{ns}/{cam}", topic), qos)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(LabelInfo, "/multi/label_info", self.labels.append,
                                      latched)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _store(self, stream: str, topic: str):
        def callback(msg: Any) -> None:
            with self.lock:
                self.got[(stream, topic)][msg.header.stamp.sec] = msg
        return callback

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            for status in msg.status:
                self.diagnostics[status.hardware_id] = {kv.key: kv.value for kv in status.values}

    def send(self, stream: str, kind: str, sec: int) -> None:
        assert self.publisher.stdin and self.publisher.stdout
        self.publisher.stdin.write(f"{stream} {kind} {sec}\n")
        self.publisher.stdin.flush()
        line = self.publisher.stdout.readline()
        assert line.strip() == f"sent {sec}", f"publisher said {line!r}"

    def wait_for(self, stream: str, topic: str, sec: int, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if sec in self.got[(stream, topic)]:
                    return self.got[(stream, topic)][sec]
            time.sleep(0.02)
        return None

    def stamps(self, stream: str, topic: str = "lane/mask") -> set[int]:
        with self.lock:
            return set(self.got[(stream, topic)])

    def diag(self, hardware_id: str, key: str, timeout: float = 5.0, at_least: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                value = self.diagnostics.get(hardware_id, {}).get(key, "")
            if (value and (not at_least or int(value) >= at_least)) or \
                    time.monotonic() >= deadline:
                return value
            time.sleep(0.05)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _node(model: Path, ns: str, cameras: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mtl_perception.ros.perception_node", "--ros-args",
         "-r", f"__ns:=/{ns}", "--params-file", str(CONFIG), "-p", f"model_path:={model}",
         "-p", "warn_throttle_sec:=0.0", "-p", f"cameras:={cameras}",
         "-p", "diagnostics_period:=0.2"],
        stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    tmp = tmp_path_factory.mktemp("multi")
    dynamic = build_constant_model(tmp / "dynamic.onnx", dynamic_batch=True)
    fixed = build_constant_model(tmp / "fixed.onnx")
    procs = [_node(dynamic, "multi", "[front, left, right]", tmp / "multi.log"),
             _node(fixed, "fixed", "[a, b]", tmp / "fixed.log")]
    publisher = subprocess.Popen([sys.executable, str(FIXTURES / "node_fixture_publisher.py")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    h = Harness(publisher)
    h.logs = tmp  # type: ignore[attr-defined]
    try:
        for ns, cam in STREAMS:  # warm up: discovery, then one output per camera
            stream = f"{ns}/{cam}"
            for attempt in range(40):
                dead = [p.args for p in procs if p.poll() is not None]
                assert not dead, f"exited early: {dead}\n{(tmp / f'{ns}.log').read_text()}"
                h.send(stream, "good", 1 + attempt)
                if h.wait_for(stream, "lane/mask", 1 + attempt, timeout=0.5) is not None:
                    break
            else:
                pytest.fail(f"{stream} never answered; log:\n{(tmp / f'{ns}.log').read_text()}")
        yield h
    finally:
        h.close()
        if publisher.stdin:
            publisher.stdin.close()
        for proc in procs:
            proc.send_signal(subprocess.signal.SIGINT)
        codes = []
        for proc in [*procs, publisher]:
            try:
                codes.append(proc.wait(timeout=15))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        assert codes[:2] == [0, 0], f"nodes must exit 0 on SIGINT, got {codes[:2]}"


def _assert_frame(h: Harness, stream: str, sec: int) -> None:
    det = h.wait_for(stream, "detections", sec)
    assert det is not None, f"{stream}: no detections for {sec}; got {sorted(h.stamps(stream))}"
    assert [d.results[0].hypothesis.class_id for d in det.detections] == EXPECTED_CLASSES
    for topic in TOPICS:
        msg = h.wait_for(stream, topic, sec)
        assert msg is not None, f"{stream}: no {topic} for {sec}"
        assert msg.header.frame_id == f"camera_{stream}"
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (sec, 123456789)


def test_each_camera_gets_its_own_results_on_its_own_topics(harness: Harness) -> None:
    secs = {cam: 100 + i for i, cam in enumerate(CAMERAS)}
    for cam, sec in secs.items():  # back to back: the node may batch them
        harness.send(f"multi/{cam}", "good", sec)
    for cam, sec in secs.items():
        _assert_frame(harness, f"multi/{cam}", sec)
    time.sleep(0.3)
    for cam in secs:
        for topic in TOPICS:
            others = {s for c, s in secs.items() if c != cam}
            leaked = harness.stamps(f"multi/{cam}", topic) & others
            assert not leaked, f"{cam}/{topic} carried other cameras' frames {leaked}"


def test_topics_are_per_camera_and_label_info_is_once_per_node(harness: Harness) -> None:
    names = {n for n, _ in harness.node.get_topic_names_and_types()}
    for cam in CAMERAS:
        for topic in ("image", "detections", "drivable_area/mask", "lane/mask", "overlay"):
            assert f"/multi/{cam}/{topic}" in names
        assert f"/multi/{cam}/label_info" not in names
    assert "/multi/label_info" in names
    assert "/multi/detections" not in names and "/multi/image" not in names
    deadline = time.monotonic() + 5
    while not harness.labels and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c.class_name for c in harness.labels[0].class_map] == [
        "pedestrian", "rider", "car", "truck"]


def test_malformed_frame_is_counted_for_its_camera_only(harness: Harness) -> None:
    ids = {cam: f"/multi/perception/{cam}" for cam in CAMERAS}
    before = {cam: int(harness.diag(i, "rejected_bad_step", timeout=0.0) or 0)
              for cam, i in ids.items()}
    harness.send("multi/left", "bad_step", 200)
    time.sleep(0.3)
    for i, cam in enumerate(CAMERAS):
        harness.send(f"multi/{cam}", "good", 210 + i)
    for i, cam in enumerate(CAMERAS):
        _assert_frame(harness, f"multi/{cam}", 210 + i)
    assert 200 not in harness.stamps("multi/left", "detections")
    assert int(harness.diag(ids["left"], "rejected_bad_step",
                            at_least=before["left"] + 1)) == before["left"] + 1
    time.sleep(0.5)  # a diagnostics period: the other cameras' counts are current
    for cam in ("front", "right"):
        assert int(harness.diag(ids[cam], "frames_rejected") or 0) == before[cam] == 0
    log = (harness.logs / "multi.log").read_text()  # type: ignore[attr-defined]
    assert "camera left: rejected frame camera_multi/left@200." in log


def test_a_silent_camera_does_not_stall_the_others(harness: Harness) -> None:
    sent = list(range(300, 320))
    for sec in sent:  # left stays silent throughout
        harness.send("multi/front", "good", sec)
        harness.send("multi/right", "good", sec)
        time.sleep(0.05)
    _assert_frame(harness, "multi/front", sent[-1])
    _assert_frame(harness, "multi/right", sent[-1])
    for cam in ("front", "right"):  # loosely: a busy machine may drop some as newer arrive
        got = harness.stamps(f"multi/{cam}") & set(sent)
        assert len(got) >= len(sent) // 2, f"{cam} served only {sorted(got)}"
    assert not harness.stamps("multi/left") & set(sent)


def test_backend_status_counts_every_frame_in_its_batches(harness: Harness) -> None:
    for sec in range(400, 405):
        for cam in CAMERAS:
            harness.send(f"multi/{cam}", "good", sec)
    for cam in CAMERAS:
        _assert_frame(harness, f"multi/{cam}", 404)
    time.sleep(0.6)
    with harness.lock:
        backend = dict(harness.diagnostics["/multi/perception/backend"])
        processed = sum(int(harness.diagnostics[f"/multi/perception/{c}"]["frames_processed"])
                        for c in CAMERAS)
    assert backend["max_batch"] == "3" and backend["cameras"] == "3"
    sizes = {int(k.rsplit("_", 1)[1]): int(v) for k, v in backend.items()
             if k.startswith("batch_size_")}
    assert sizes and set(sizes) <= {1, 2, 3}
    assert sum(n * c for n, c in sizes.items()) == processed
    assert int(backend["batches"]) == sum(sizes.values())
    for n in sizes:
        assert float(backend[f"batch_{n}_inference_ms_p50"]) > 0


def test_fixed_batch_model_serves_every_camera_and_says_so_once(harness: Harness) -> None:
    for cam in ("a", "b"):
        harness.send(f"fixed/{cam}", "good", 500)
    for cam in ("a", "b"):
        _assert_frame(harness, f"fixed/{cam}", 500)
    log = (harness.logs / "fixed.log").read_text()  # type: ignore[attr-defined]
    assert log.count("fixed batch of 1") == 1, log
    assert harness.diag("/fixed/perception/backend", "max_batch") == "1"
    assert not harness.diag("/fixed/perception/backend", "batch_size_2", timeout=0.5)


def test_runtime_parameters_apply_to_every_camera(harness: Harness) -> None:
    def set_conf(value: float) -> Any:
        request = SetParameters.Request()
        pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        request.parameters = [ParameterMsg(name="confidence_threshold", value=pv)]
        client = harness.node.create_client(SetParameters, "/multi/perception/set_parameters")
        assert client.wait_for_service(timeout_sec=10.0)
        future = client.call_async(request)
        deadline = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        harness.node.destroy_client(client)
        return future.result().results[0]

    assert set_conf(0.75).successful
    try:
        for cam in CAMERAS:
            harness.send(f"multi/{cam}", "good", 600)
        for cam in CAMERAS:
            det = harness.wait_for(f"multi/{cam}", "detections", 600)
            assert det is not None
            assert [d.results[0].hypothesis.class_id for d in det.detections] == [
                "car", "pedestrian"]
    finally:
        assert set_conf(0.25).successful
    deadline = time.monotonic() + 5
    while len(harness.labels) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert harness.labels[-1].threshold == pytest.approx(0.25)
    assert np.isclose([m.threshold for m in harness.labels], 0.75).any()
