"""Record what a running perception node publishes, the way ``ros2 bag record`` would.

Why: the demo (and anyone without rosbag2) needs the node's real DDS outputs on disk and in
memory: serialized messages go to a rosbag2 bag unchanged, and each message's arrival time is
kept (wall clock) so the end-to-end latency against mtl-play's publish log can be measured.
The bag logs every message at that one clock, its receive time, as rosbag2's recorder does;
header stamps stay inside the messages as published (a bag logged at header stamps for some
topics and at wall clock for others, like /diagnostics, would span years).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl_perception.io import rosbag2

DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"


@dataclass
class Received:
    topic: str
    msgtype: str
    data: bytes
    arrival: float  # time.time(): wall clock, comparable with other processes' logs


@dataclass
class Recording:
    messages: list[Received] = field(default_factory=list)

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]


class Recorder:
    """Subscribes (serialized, no decoding in the callback) to topics in a background thread.

    ``topics`` maps topic -> (msgtype, qos name); qos names are those of devtools/play.py.
    """

    def __init__(self, topics: dict[str, tuple[str, str]], node_name: str = "mtl_recorder"):
        self.topics = topics
        self.node_name = node_name
        self.recording = Recording()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.node: Any = None

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = 20.0) -> None:
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("the recorder's ROS node did not start")
        if self._error is not None:
            raise RuntimeError(f"the recorder failed to start: {self._error}")

    def _run(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from mtl_perception.devtools.play import message_class, qos_profile
        from mtl_perception.ros.ros_args import rclpy_args

        context = rclpy.Context()
        try:
            # Only the process's --ros-args sections: rcl reads any FROM:=TO as a remap rule.
            rclpy.init(args=rclpy_args(), context=context)
            self.node = rclpy.create_node(self.node_name, context=context)
            for topic, (msgtype, qos) in self.topics.items():
                self.node.create_subscription(
                    message_class(msgtype), topic,
                    lambda data, t=topic, m=msgtype: self._store(t, m, data),
                    qos_profile(qos, depth=50), raw=True,
                )
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(self.node)
        except BaseException as exc:  # reported to the caller of start()
            self._error = exc
            self._ready.set()
            rclpy.try_shutdown(context=context)
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                executor.spin_once(timeout_sec=0.05)
        finally:
            self.node.destroy_node()
            rclpy.try_shutdown(context=context)

    def _store(self, topic: str, msgtype: str, data: bytes) -> None:
        arrival = time.time()
        with self._lock:
            self.recording.messages.append(Received(topic, msgtype, bytes(data), arrival))

    def publishers_on(self, topic: str) -> int:
        return 0 if self.node is None else self.node.count_publishers(topic)

    def wait_for_publishers(self, topics: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.publishers_on(t) > 0 for t in topics):
                return True
            time.sleep(0.1)
        return False

    def count(self, topic: str) -> int:
        with self._lock:
            return sum(1 for m in self.recording.messages if m.topic == topic)

    def wait_idle(self, topic: str, idle_s: float, timeout_s: float,
                  expected: int | None = None) -> int:
        """Wait until ``topic`` got ``expected`` messages or none for ``idle_s``; its count."""
        deadline = time.monotonic() + timeout_s
        last, last_change = self.count(topic), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.count(topic)
            if expected is not None and now >= expected:
                return now
            if now != last:
                last, last_change = now, time.monotonic()
            elif time.monotonic() - last_change >= idle_s:
                break
        return self.count(topic)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def write_bag(self, path: Path) -> None:
        """All recorded messages to a new bag, each logged at its receive time (like record)."""
        with self._lock:
            messages = sorted(self.recording.messages, key=lambda m: m.arrival)
        with rosbag2.BagWriter(path) as writer:
            for m in messages:
                writer.write_raw(m.topic, m.msgtype, m.data, round(m.arrival * 1e9))
