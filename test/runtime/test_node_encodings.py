"""Camera encodings through the real node: bad frames are counted by reason, good ones served.

One ``perception_node`` process (raw transport, constant ONNX model) in namespace ``/enc``;
the test's own rclpy node publishes 1280x720 frames on ``/enc/image`` and listens to
``/enc/detections`` and ``/diagnostics``. Each bad frame (unknown encoding, Bayer with an
odd width, yuv422 with a too-small ``step``) must be rejected and counted under its reason,
and the yuv422 frame right after it must produce detections.
"""

from __future__ import annotations

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

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from node_fixture_model import build_constant_model  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

pytestmark = pytest.mark.ros

FIXTURES = Path(__file__).resolve().parents[1]  # the shared node fixtures live in test/
CONFIG = FIXTURES.parent / "config" / "perception.yaml"
NODE_SCRIPT = Path(sys.executable).with_name("perception_node")
W, H = 1280, 720
NS = "enc"


def _uyvy_720p() -> bytes:
    """A 1280x720 yuv422 (UYVY) picture: horizontal luma ramp, constant chroma."""
    y = np.broadcast_to(np.linspace(16, 235, W).astype(np.uint8), (H, W))
    packed = np.empty((H, W // 2, 4), np.uint8)
    packed[..., 0], packed[..., 2] = 100, 150  # U, V
    packed[..., 1], packed[..., 3] = y[:, 0::2], y[:, 1::2]
    return packed.tobytes()


GOOD_YUV422 = _uyvy_720p()


def _image(kind: str) -> Image:
    msg = Image()
    msg.height, msg.width = H, W
    if kind == "yuv422":
        msg.encoding, msg.step, data = "yuv422", W * 2, GOOD_YUV422
    elif kind == "unknown":
        msg.encoding, msg.step, data = "hsv8", W * 3, bytes(W * 3 * H)
    elif kind == "bayer_odd_width":
        msg.width = W - 1
        msg.encoding, msg.step, data = "bayer_rggb8", W - 1, bytes((W - 1) * H)
    elif kind == "yuv422_bad_step":
        msg.encoding, msg.step, data = "yuv422", W * 2 - 2, bytes((W * 2 - 2) * H)
    else:
        raise ValueError(kind)
    msg.data = data
    return msg


class Harness:
    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("encodings_test_harness", context=self.context)
        self.lock = threading.Lock()
        self.detections: dict[int, Detection2DArray] = {}
        self.diagnostics: dict[str, str] = {}
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.node.create_publisher(Image, f"/{NS}/image", qos)
        self.node.create_subscription(Detection2DArray, f"/{NS}/detections", self._on_det, qos)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_det(self, msg: Detection2DArray) -> None:
        with self.lock:
            self.detections[msg.header.stamp.sec] = msg

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == f"/{NS}/perception":
                with self.lock:
                    self.diagnostics = {kv.key: kv.value for kv in status.values}

    def send(self, kind: str, sec: int) -> None:
        msg = _image(kind)
        msg.header.frame_id = f"camera_{NS}"
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, 123456789
        self.pub.publish(msg)

    def wait_detections(self, sec: int, timeout: float = 10.0) -> Detection2DArray | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if sec in self.detections:
                    return self.detections[sec]
            time.sleep(0.02)
        return None

    def diag(self, key: str, at_least: int, timeout: float = 5.0) -> int:
        """The latest integer diagnostics value, waiting until it reaches ``at_least``."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                value = int(self.diagnostics.get(key, "0"))
            if value >= at_least or time.monotonic() >= deadline:
                return value
            time.sleep(0.05)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    model = build_constant_model(tmp_path_factory.mktemp("enc") / "constant.onnx")
    log = tmp_path_factory.mktemp("logs") / "node.log"
    node = subprocess.Popen(
        [str(NODE_SCRIPT), "--ros-args", "-r", f"__ns:=/{NS}", "--params-file", str(CONFIG),
         "-p", f"model_path:={model}", "-p", "warn_throttle_sec:=0.0",
         "-p", "diagnostics_period:=0.2"],
        stdout=log.open("w"), stderr=subprocess.STDOUT)
    h = Harness()
    h.log = log  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 30.0
        while h.pub.get_subscription_count() == 0:
            assert node.poll() is None, f"node exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"node never subscribed:\n{log.read_text()}"
            time.sleep(0.05)
        for sec in range(1, 41):  # warm up: the first frame the node answers
            h.send("yuv422", sec)
            if h.wait_detections(sec, timeout=0.5) is not None:
                break
        else:
            pytest.fail(f"node never answered a yuv422 frame; log:\n{log.read_text()}")
        yield h
    finally:
        h.close()
        node.send_signal(subprocess.signal.SIGINT)
        try:
            code = node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.kill()
            code = node.wait()
        assert code == 0, f"node must exit 0 on SIGINT, got {code}"


def test_yuv422_frame_gives_the_expected_detections(harness: Harness) -> None:
    harness.send("yuv422", 100)
    det = harness.wait_detections(100)
    assert det is not None, "no detections for a yuv422 frame"
    assert det.header.frame_id == f"camera_{NS}"
    got = [(d.results[0].hypothesis.class_id, d.bbox.center.position.x,
            d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y) for d in det.detections]
    # node_fixture_model.known_outputs, un-letterboxed to 1280x720 (as in test_node)
    assert [g[0] for g in got] == ["car", "pedestrian", "truck"]
    np.testing.assert_allclose([g[1:] for g in got],
                               [(300, 200, 200, 200), (640, 280, 80, 160), (1240, 28, 80, 56)],
                               atol=1e-3)


@pytest.mark.parametrize(
    ("kind", "reason", "text", "bad"),
    [("unknown", "unsupported_encoding", "unsupported encoding 'hsv8'", 200),
     ("bayer_odd_width", "odd_width", "bayer_rggb8 needs an even width", 210),
     ("yuv422_bad_step", "bad_step", "step 2558 is smaller than", 220)],
)
def test_bad_frame_counted_by_reason_then_yuv422_served(
    harness: Harness, kind: str, reason: str, text: str, bad: int
) -> None:
    key = f"rejected_{reason}"
    before = harness.diag(key, at_least=0, timeout=0.0)
    harness.send(kind, bad)
    time.sleep(0.3)  # input depth is 1: let the bad frame reach the callback first
    harness.send("yuv422", bad + 1)
    assert harness.wait_detections(bad + 1) is not None, "the good frame after it was not served"
    assert harness.wait_detections(bad, timeout=0.0) is None, "a rejected frame produced output"
    assert harness.diag(key, at_least=before + 1) == before + 1
    log = harness.log.read_text()  # type: ignore[attr-defined]
    assert f"rejected frame camera_{NS}@{bad}." in log and text in log, log[-2000:]
