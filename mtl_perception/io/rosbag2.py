"""rosbag2 image bags read and written with the pure-Python ``rosbags`` library.

Why this exists: rosbag2 is not on PyPI, so the bag converter, the player, the offline runner
and INT8 calibration all read and write bags through this one module. It never imports rclpy
or torch, so it works on machines without a ROS distribution and in the inference layer's
calibration path. Bags are mcap by default, sqlite3 on request; ``ros2 bag play`` reads both.

Message types come from the ``rosbags`` Jazzy type store plus vision_msgs, registered from the
``.msg`` files of the installed vision_msgs package where the ament index has one, else from
the copy this package installs (``share/mtl_perception/interfaces/vision_msgs/msg``, the same
files the ROS build uses).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.msg import get_types_from_msg
from rosbags.typesys.store import Typestore

from mtl_perception.common.errors import MtlError
from mtl_perception.common.package_data import PackageDataError, data_path
from mtl_perception.common.types import BoxLabel
from mtl_perception.inference.encodings import FrameRejectedError, decode_compressed, decode_raw

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTION_ARRAY = "vision_msgs/msg/Detection2DArray"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
STORAGES = ("mcap", "sqlite3")
BAG_VERSION = 8  # what Jazzy writes; rosbags can also write 9 (Kilted)

class BagError(MtlError, RuntimeError):
    """A bag is missing, unreadable or holds no usable topic."""


@dataclass(frozen=True)
class ImageFrame:
    """One decoded image message."""

    stamp_ns: int
    frame_id: str
    rgb: np.ndarray  # uint8 [H, W, 3]
    topic: str = ""


def _vision_msgs_dir() -> Path:
    """The vision_msgs .msg folder: the distribution's, else the copy this package installs."""
    try:
        from ament_index_python.packages import get_package_share_directory

        distro = Path(get_package_share_directory("vision_msgs", print_warning=False)) / "msg"
        if (distro / "Detection2DArray.msg").is_file():
            return distro
    except (ImportError, LookupError, ValueError, OSError):
        pass  # no ament index, or vision_msgs not in it
    try:
        return data_path("interfaces", "vision_msgs", "msg")
    except PackageDataError as exc:
        raise BagError(f"vision_msgs .msg definitions not found: {exc}") from exc


@functools.lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The Jazzy type store with vision_msgs registered from its .msg text."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for msg_file in sorted(_vision_msgs_dir().glob("*.msg")):
        types.update(get_types_from_msg(msg_file.read_text(), f"vision_msgs/msg/{msg_file.stem}"))
    store.register(types)
    return store


def storage_plugin(storage: str) -> StoragePlugin:
    if storage not in STORAGES:
        raise BagError(f"unknown bag storage {storage!r}; use one of {', '.join(STORAGES)}")
    return StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3


def _header(stamp_ns: int, frame_id: str) -> Any:
    store = typestore()
    time = store.types["builtin_interfaces/msg/Time"](
        sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)
    )
    return store.types["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (rosbags or rclpy) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# ----------------------------------------------------------------------------- messages
def image_message(
    rgb: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "rgb8"
) -> Any:
    """A sensor_msgs/Image from an RGB (or mono when ``encoding='mono8'``) uint8 array."""
    data = np.ascontiguousarray(rgb, dtype=np.uint8)
    if encoding == "bgr8":
        data = np.ascontiguousarray(data[..., ::-1])
    height, width = data.shape[:2]
    channels = 1 if data.ndim == 2 else data.shape[2]
    return typestore().types[IMAGE](
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels,
        data=data.reshape(-1),
    )


def compressed_message(rgb: np.ndarray, stamp_ns: int, frame_id: str, quality: int = 90) -> Any:
    """A JPEG sensor_msgs/CompressedImage, with the format string image_transport writes."""
    ok, jpeg = cv2.imencode(
        ".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise BagError("JPEG encoding failed")
    return typestore().types[COMPRESSED_IMAGE](
        header=_header(stamp_ns, frame_id),
        format="rgb8; jpeg compressed bgr8",
        data=jpeg.reshape(-1),
    )


def camera_info_message(
    width: int, height: int, stamp_ns: int, frame_id: str, fx: float | None = None
) -> Any:
    """A pinhole CameraInfo without distortion; focal length defaults to the image width."""
    types = typestore().types
    f = float(fx if fx is not None else width)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return types[CAMERA_INFO](
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float64),
        k=np.array([f, 0, cx, 0, f, cy, 0, 0, 1], dtype=np.float64),
        r=np.eye(3, dtype=np.float64).reshape(-1),
        p=np.array([f, 0, cx, 0, 0, f, cy, 0, 0, 0, 1, 0], dtype=np.float64),
        binning_x=0,
        binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )


def detections_message(boxes: Sequence[BoxLabel], stamp_ns: int, frame_id: str) -> Any:
    """A vision_msgs 4.x Detection2DArray (boxes in image pixels, class name as class_id)."""
    types = typestore().types
    header = _header(stamp_ns, frame_id)
    pose = types["geometry_msgs/msg/PoseWithCovariance"](
        pose=types["geometry_msgs/msg/Pose"](
            position=types["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
            orientation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        ),
        covariance=np.zeros(36, dtype=np.float64),
    )
    detections = []
    for index, box in enumerate(boxes):
        hypothesis = types["vision_msgs/msg/ObjectHypothesisWithPose"](
            hypothesis=types["vision_msgs/msg/ObjectHypothesis"](
                class_id=box.label, score=float(box.score)
            ),
            pose=pose,
        )
        bbox = types["vision_msgs/msg/BoundingBox2D"](
            center=types["vision_msgs/msg/Pose2D"](
                position=types["vision_msgs/msg/Point2D"](
                    x=(box.x1 + box.x2) / 2.0, y=(box.y1 + box.y2) / 2.0
                ),
                theta=0.0,
            ),
            size_x=float(box.x2 - box.x1),
            size_y=float(box.y2 - box.y1),
        )
        detections.append(
            types["vision_msgs/msg/Detection2D"](
                header=header, results=[hypothesis], bbox=bbox, id=str(index)
            )
        )
    return types[DETECTION_ARRAY](header=header, detections=detections)


def boxes_from_detections(msg: Any) -> list[BoxLabel]:
    """Detection2DArray (rosbags or rclpy object) -> boxes; best hypothesis per detection."""
    boxes = []
    for det in msg.detections:
        if not det.results:
            continue
        best = max(det.results, key=lambda r: r.hypothesis.score)
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        boxes.append(
            BoxLabel(
                cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2,
                str(best.hypothesis.class_id), float(best.hypothesis.score),
            )
        )
    return boxes


def image_to_rgb(msg: Any, msgtype: str) -> np.ndarray:
    """Decode an Image or CompressedImage message (rosbags or rclpy object) to RGB uint8.

    Decoding is the node's own (``inference.encodings``), so a frame the node would reject
    is rejected here too, with the same reason.
    """
    try:
        if msgtype == COMPRESSED_IMAGE:
            decoded = decode_compressed(str(msg.format), msg.data)
        elif msgtype == IMAGE:
            decoded = decode_raw(str(msg.encoding), int(msg.width), int(msg.height),
                                 int(msg.step), msg.data, bool(msg.is_bigendian))
        else:
            raise BagError(f"{msgtype} is not an image type")
    except FrameRejectedError as exc:
        raise BagError(f"unusable image ({exc.reason}): {exc}") from exc
    if decoded.color == "rgb":
        return np.ascontiguousarray(decoded.pixels)
    return cv2.cvtColor(decoded.pixels, cv2.COLOR_BGR2RGB)


def raw_image_to_rgb(
    data: np.ndarray, height: int, width: int, step: int, encoding: str
) -> np.ndarray:
    """Raw Image bytes -> RGB uint8 [H, W, 3]; honours row padding (``step``)."""
    try:
        decoded = decode_raw(encoding, width, height, step, data)
    except FrameRejectedError as exc:
        raise BagError(f"unusable image ({exc.reason}): {exc}") from exc
    if decoded.color == "rgb":
        return np.ascontiguousarray(decoded.pixels)
    return cv2.cvtColor(decoded.pixels, cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------- writing
class BagWriter:
    """Writes images, camera info, detections and masks to a new rosbag2 bag.

    A context manager: the bag's metadata is always written on exit, also after an error,
    so a partial conversion still leaves a bag that ``ros2 bag`` can open.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", version: int = BAG_VERSION):
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; remove it or choose another --out")
        self._writer = Writer(self.path, version=version, storage_plugin=storage_plugin(storage))
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None  # type: ignore[assignment]

    def write(self, topic: str, msgtype: str, msg: Any, log_time_ns: int) -> None:
        """Serialize ``msg`` (a rosbags message object) and append it to ``topic``."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f"topic {topic} already holds {conn.msgtype}, not {msgtype}")
        self._writer.write(conn, int(log_time_ns), typestore().serialize_cdr(msg, msgtype))
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def set_custom_data(self, key: str, value: str) -> None:
        """A string stored in metadata.yaml's ``custom_data`` (rosbag2 keeps it on copy)."""
        self._writer.set_custom_data(key, value)

    def write_raw(self, topic: str, msgtype: str, data: bytes, log_time_ns: int) -> None:
        """Append already-serialized CDR bytes (copying between bags without decoding)."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
        self._writer.write(conn, int(log_time_ns), data)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def add_image(
        self,
        topic: str,
        rgb: np.ndarray,
        stamp_ns: int,
        frame_id: str,
        compressed: bool = False,
        jpeg_quality: int = 90,
    ) -> None:
        """An RGB frame as raw ``rgb8`` Image, or JPEG CompressedImage when ``compressed``."""
        if compressed:
            self.write(topic, COMPRESSED_IMAGE,
                       compressed_message(rgb, stamp_ns, frame_id, jpeg_quality), stamp_ns)
        else:
            self.write(topic, IMAGE, image_message(rgb, stamp_ns, frame_id), stamp_ns)

    def add_mask(self, topic: str, mask: np.ndarray, stamp_ns: int, frame_id: str) -> None:
        """A class-id mask as mono8 Image (the node's mask topics)."""
        self.write(topic, IMAGE, image_message(mask, stamp_ns, frame_id, "mono8"), stamp_ns)

    def add_camera_info(
        self, topic: str, width: int, height: int, stamp_ns: int, frame_id: str
    ) -> None:
        self.write(topic, CAMERA_INFO,
                   camera_info_message(width, height, stamp_ns, frame_id), stamp_ns)

    def add_detections(
        self, topic: str, boxes: Sequence[BoxLabel], stamp_ns: int, frame_id: str
    ) -> None:
        self.write(topic, DETECTION_ARRAY, detections_message(boxes, stamp_ns, frame_id),
                   stamp_ns)


# ----------------------------------------------------------------------------- reading
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
