"""mtl-play: publish a rosbag2 bag into ROS 2 where rosbag2 is not installed.

Where ``ros2 bag play`` exists, use it (``ros2 bag play drive_bag``); this tool is for
machines whose ROS 2 comes from PyPI wheels, as in CI and on these development machines.
It keeps the recorded timing (scaled by ``--rate``), loops with ``--loop``, remaps topics
with ``--remap FROM:=TO``, and publishes the serialized bytes as recorded (no decoding, so a
720p frame costs about a millisecond).

QoS: reliable, keep last 10 by default, because a reliable publisher feeds both reliable and
best-effort subscriptions (the node's input default is reliable, depth 1: see
docs/parameters.md for the measurement). ``--qos sensor_data`` publishes as many camera
drivers do (best effort, keep last 5), to test a subscriber against that; a reliable
subscription then cannot match, and mtl-play says so.

Set ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` on both sides for large images over Fast DDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl_perception.common.cli_args import ArgumentParser
from mtl_perception.io import rosbag2
from mtl_perception.ros.ros_args import split_ros_args
from mtl_perception.ros.shutdown import ShutdownSignals

QOS_CHOICES = ("sensor_data", "reliable", "system_default")


def message_class(msgtype: str) -> type:
    """'sensor_msgs/msg/Image' -> the rclpy message class (needs the package installed)."""
    package, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as exc:
        raise rosbag2.BagError(
            f"message type {msgtype} is not available in this Python: {exc}") from exc


def qos_profile(name: str, depth: int | None = None) -> Any:
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_sensor_data,
        qos_profile_system_default,
    )

    if name == "sensor_data":
        base = qos_profile_sensor_data
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth or base.depth,
                          reliability=ReliabilityPolicy.BEST_EFFORT,
                          durability=DurabilityPolicy.VOLATILE)
    if name == "reliable":
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth or 10,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    if name == "system_default":
        return qos_profile_system_default
    raise ValueError(f"unknown QoS {name!r}; choose one of {', '.join(QOS_CHOICES)}")


def parse_remaps(items: Iterable[str]) -> dict[str, str]:
    remaps = {}
    for item in items:
        if ":=" not in item:
            raise ValueError(f"--remap wants FROM:=TO, got {item!r}")
        src, dst = item.split(":=", 1)
        remaps[src] = dst
    return remaps


@dataclass
class PlayStats:
    published: int = 0
    loops: int = 0
    late_ms_max: float = 0.0
    per_topic: dict[str, int] = field(default_factory=dict)


def schedule(
    messages: Iterable[tuple[str, str, int, bytes]], rate: float
) -> Iterator[tuple[float, str, int, bytes]]:
    """(seconds after start, topic, log time ns, data): recorded gaps divided by ``rate``."""
    first: int | None = None
    for topic, _, log_ns, data in messages:
        if first is None:
            first = log_ns
        yield (log_ns - first) / 1e9 / rate, topic, log_ns, data


class Player:
    """Publishes a bag's messages on real ROS 2 topics with the recorded timing."""

    def __init__(
        self,
        node: Any,
        bag: Path,
        topic_filter: list[str] | None = None,
        remaps: dict[str, str] | None = None,
        qos: str = "reliable",
        image_qos_only: bool = True,
    ) -> None:
        self.node = node
        self.bag = bag
        infos = rosbag2.topics(bag)
        known = {t.name for t in infos}
        if topic_filter:
            missing = set(topic_filter) - known
            if missing:
                raise rosbag2.BagError(
                    f"topics {sorted(missing)} not in {bag}; it has {sorted(known)}")
        self.topics = [t for t in infos if not topic_filter or t.name in topic_filter]
        self.remaps = remaps or {}
        self.publishers: dict[str, Any] = {}
        from rclpy.event_handler import PublisherEventCallbacks

        for info in self.topics:
            # The chosen QoS for images; everything else (labels, camera info) reliable.
            is_image = info.msgtype in rosbag2.IMAGE_TYPES
            name = qos if (is_image or not image_qos_only) else "reliable"
            out = self.remaps.get(info.name, info.name)
            callbacks = PublisherEventCallbacks(
                incompatible_qos=lambda event, t=out: self._incompatible(t, event)
            )
            self.publishers[info.name] = node.create_publisher(
                message_class(info.msgtype), out, qos_profile(name), event_callbacks=callbacks
            )
        self._warned: set[str] = set()

    def _incompatible(self, topic: str, event: Any) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            self.node.get_logger().warning(
                f"a subscriber on {topic} wants an incompatible QoS (policy "
                f"{event.last_policy_kind}); a reliable subscription needs --qos reliable"
            )

    def wait_for_subscribers(self, count: int, timeout_s: float, executor: Any) -> bool:
        """Block until every image topic has ``count`` subscribers (discovery takes time)."""
        deadline = time.monotonic() + timeout_s
        images = [t.name for t in self.topics if t.msgtype in rosbag2.IMAGE_TYPES] or [
            t.name for t in self.topics
        ]
        while time.monotonic() < deadline:
            if all(self.publishers[n].get_subscription_count() >= count for n in images):
                return True
            executor.spin_once(timeout_sec=0.05)
        return False

    def play_once(self, rate: float, executor: Any, stats: PlayStats,
                  timing_log: Any = None) -> None:
        """One pass; ``timing_log`` (a text file) gets 'topic log_ns wall_ns' per publish."""
        start = time.perf_counter()
        names = [t.name for t in self.topics]
        for offset, topic, log_ns, data in schedule(rosbag2.read_raw(self.bag, names), rate):
            delay = start + offset - time.perf_counter()
            while delay > 0:
                executor.spin_once(timeout_sec=min(delay, 0.05))
                delay = start + offset - time.perf_counter()
            stats.late_ms_max = max(stats.late_ms_max, -delay * 1e3)
            self.publishers[topic].publish(data)
            if timing_log is not None:
                timing_log.write(f"{topic} {log_ns} {time.time_ns()}\n")
            stats.published += 1
            stats.per_topic[topic] = stats.per_topic.get(topic, 0) + 1
        stats.loops += 1


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-play", description=__doc__.split("\n")[0],
                                epilog="Where rosbag2 is installed, prefer: ros2 bag play BAG")
    p.add_argument("bag", type=Path)
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    p.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")
    p.add_argument("--topics", nargs="+", default=None, help="only these topics")
    p.add_argument("--remap", action="append", default=[], metavar="FROM:=TO")
    p.add_argument("--qos", choices=QOS_CHOICES, default="reliable",
                   help="QoS of image topics (others are reliable); sensor_data = best effort "
                   "as many camera drivers publish")
    p.add_argument("--wait-for-subscribers", type=int, default=0, metavar="N",
                   help="start only when each image topic has N subscribers")
    p.add_argument("--wait-timeout", type=float, default=30.0)
    p.add_argument("--start-delay", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--linger", type=float, default=0.5, metavar="SECONDS",
                   help="keep the publishers alive this long after the last message")
    p.add_argument("--timing-log", type=Path, default=None,
                   help="write 'topic log_time_ns publish_wall_ns' per message (latency tools)")
    p.add_argument("--node-name", default="mtl_play")
    return p


def main(argv: list[str] | None = None) -> int:
    """Exits 0 on Ctrl-C or SIGTERM, however many arrive (mtl_perception/ros/shutdown.py);
    rclpy gets only the ``--ros-args`` sections of the command line, the parser the rest."""
    own, ros = split_ros_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    if args.rate <= 0:
        print("mtl-play: --rate must be positive", file=sys.stderr)
        return 2
    try:
        remaps = parse_remaps(args.remap)
        rosbag2.topics(args.bag)
    except (ValueError, rosbag2.BagError) as exc:
        print(f"mtl-play: {exc}", file=sys.stderr)
        return 2
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    signals = ShutdownSignals().install()  # before rclpy.init, so rclpy's handler chains to it
    node = None
    stats = PlayStats()
    rc = 0
    try:
        rclpy.init(args=ros, signal_handler_options=SignalHandlerOptions.ALL)
        node = rclpy.create_node(args.node_name)
        with signals.deferred():  # an executor interrupted in __init__ fails in __del__
            executor = SingleThreadedExecutor()
        executor.add_node(node)
        player = Player(node, args.bag, args.topics, remaps, args.qos)
        if args.wait_for_subscribers > 0 and not player.wait_for_subscribers(
            args.wait_for_subscribers, args.wait_timeout, executor
        ):
            node.get_logger().error(
                f"no {args.wait_for_subscribers} subscriber(s) within {args.wait_timeout} s")
            rc = 1
        else:
            end = time.monotonic() + args.start_delay
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
            timing_log = open(args.timing_log, "w") if args.timing_log else None  # noqa: SIM115
            try:
                while True:
                    player.play_once(args.rate, executor, stats, timing_log)
                    if not args.loop:
                        break
            finally:
                if timing_log is not None:
                    timing_log.close()
            # Let the last messages leave before the participant goes away.
            end = time.monotonic() + args.linger
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
    except rosbag2.BagError as exc:
        print(f"mtl-play: {exc}", file=sys.stderr)
        rc = 2
    except (KeyboardInterrupt, Exception) as exc:
        if not signals.absorbs(exc):
            raise
    finally:
        signals.disarm()  # ignore SIGINT/SIGTERM: teardown and exit run to the end
        print(f"mtl-play: published {stats.published} messages "
              f"({', '.join(f'{k}: {v}' for k, v in stats.per_topic.items()) or 'none'}), "
              f"{stats.loops} pass(es), worst lateness {stats.late_ms_max:.1f} ms",
              file=sys.stderr)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
