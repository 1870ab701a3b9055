"""Reading rosbag2 bags: topics, raw messages, image frames, detections and masks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.typesys.msg import get_types_from_msg

from mtl_perception.common.types import BoxLabel
from mtl_perception.io.rosbag2.messages import (
    boxes_from_detections,
    image_to_rgb,
    stamp_to_ns,
)
from mtl_perception.io.rosbag2.typestore import (
    DETECTION_ARRAY,
    IMAGE,
    IMAGE_TYPES,
    BagError,
    typestore,
)


@dataclass(frozen=True)
class ImageFrame:
    """One decoded image message."""

    stamp_ns: int
    frame_id: str
    rgb: np.ndarray  # uint8 [H, W, 3]
    topic: str = ""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int


@contextlib.contextmanager
def _open_reader(path: str | Path) -> Iterator[Reader]:
    """An open Reader; a bag rosbags cannot read (e.g. a broken metadata.yaml) is a
    one-line :class:`BagError`."""
    bag = Path(path)
    if not bag.exists():
        raise BagError(f"bag {bag} does not exist")
    if bag.is_file() and bag.suffix in (".mcap", ".db3"):
        bag = bag.parent  # rosbags opens the bag directory (metadata.yaml)
    if not (bag / "metadata.yaml").is_file():
        raise BagError(f"{bag} is not a rosbag2 bag (no metadata.yaml)")
    try:
        reader = Reader(bag)
        reader.open()
    except ReaderError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BagError(f"cannot read bag {bag}: {first}") from None
    try:
        yield reader
    finally:
        reader.close()


def is_bag(path: str | Path) -> bool:
    """True for a rosbag2 directory (or a file inside one)."""
    p = Path(path)
    d = p.parent if p.is_file() else p
    return (d / "metadata.yaml").is_file()


def custom_data(path: str | Path) -> dict[str, str]:
    """metadata.yaml's ``custom_data`` (empty when absent)."""
    import yaml

    bag = Path(path)
    bag = bag.parent if bag.is_file() else bag
    meta = yaml.safe_load((bag / "metadata.yaml").read_text()) or {}
    data = (meta.get("rosbag2_bagfile_information") or {}).get("custom_data") or {}
    return {str(k): str(v) for k, v in data.items()}


def topics(path: str | Path) -> list[TopicInfo]:
    """The bag's topics with their types and message counts."""
    with _open_reader(path) as reader:
        return [TopicInfo(c.topic, c.msgtype, c.msgcount) for c in reader.connections]


def pick_image_topic(path: str | Path, topic: str | None = None) -> str:
    """``topic`` when given (checked), else the only (or busiest) image topic in the bag."""
    infos = topics(path)
    images = [t for t in infos if t.msgtype in IMAGE_TYPES]
    if topic is not None:
        match = [t for t in infos if t.name == topic]
        if not match:
            raise BagError(f"topic {topic} not in {path}; it has {[t.name for t in infos]}")
        if match[0].msgtype not in IMAGE_TYPES:
            raise BagError(f"topic {topic} holds {match[0].msgtype}, not an image type")
        return topic
    if not images:
        raise BagError(f"{path} holds no Image or CompressedImage topic")
    return max(images, key=lambda t: t.count).name


def _ensure_types(reader: Reader, connections: Iterable[Any]) -> None:
    """Register message types the bag defines but the store lacks (custom messages)."""
    store = typestore()
    for conn in connections:
        if conn.msgtype in store.types or conn.msgdef is None or not conn.msgdef.data:
            continue
        try:
            store.register(get_types_from_msg(conn.msgdef.data, conn.msgtype))
        except Exception as exc:  # a bag with an unparsable definition; say which
            raise BagError(f"cannot register {conn.msgtype} from the bag: {exc}") from exc


def read_raw(
    path: str | Path, topic_names: Iterable[str] | None = None
) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log_time_ns, CDR bytes) in log-time order; no decoding."""
    wanted = set(topic_names) if topic_names is not None else None
    with _open_reader(path) as reader:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, timestamp, data in reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, int(timestamp), bytes(data)


def read_messages(
    path: str | Path, topic_names: Iterable[str] | None = None
) -> Iterator[tuple[str, str, int, Any]]:
    """(topic, msgtype, log_time_ns, decoded rosbags message) in log-time order."""
    wanted = set(topic_names) if topic_names is not None else None
    store = typestore()
    with _open_reader(path) as reader:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        _ensure_types(reader, conns)
        for conn, timestamp, data in reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, int(timestamp), store.deserialize_cdr(
                data, conn.msgtype
            )


def read_image_frames(path: str | Path, topic: str | None = None) -> Iterator[ImageFrame]:
    """Decoded RGB frames of one image topic (default: the bag's image topic), in order.

    The stamp is the message header's stamp (the camera time), which is what the node copies
    to its outputs; the frame_id likewise.
    """
    name = pick_image_topic(path, topic)
    for topic_name, msgtype, _, msg in read_messages(path, [name]):
        yield ImageFrame(
            stamp_to_ns(msg.header.stamp), msg.header.frame_id, image_to_rgb(msg, msgtype),
            topic_name,
        )


def read_detections(path: str | Path, topic: str) -> dict[int, list[BoxLabel]]:
    """Detection2DArray messages of ``topic`` keyed by header stamp (ns)."""
    result: dict[int, list[BoxLabel]] = {}
    for _, msgtype, _, msg in read_messages(path, [topic]):
        if msgtype != DETECTION_ARRAY:
            raise BagError(f"topic {topic} holds {msgtype}, not {DETECTION_ARRAY}")
        result[stamp_to_ns(msg.header.stamp)] = boxes_from_detections(msg)
    return result


def read_masks(path: str | Path, topic: str) -> dict[int, np.ndarray]:
    """mono8 mask Images of ``topic`` keyed by header stamp (ns): class-id arrays [H, W]."""
    result: dict[int, np.ndarray] = {}
    for _, msgtype, _, msg in read_messages(path, [topic]):
        if msgtype != IMAGE:
            raise BagError(f"topic {topic} holds {msgtype}, not {IMAGE}")
        data = np.asarray(msg.data, dtype=np.uint8)
        h, w, step = int(msg.height), int(msg.width), int(msg.step)
        result[stamp_to_ns(msg.header.stamp)] = data[: h * step].reshape(h, step)[:, :w].copy()
    return result
