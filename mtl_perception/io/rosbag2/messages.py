"""ROS 2 messages built from numpy frames and boxes, and decoded back, without rclpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from mtl_perception.common.types import BoxLabel
from mtl_perception.inference.encodings import FrameRejectedError, decode_compressed, decode_raw
from mtl_perception.io.rosbag2.typestore import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    DETECTION_ARRAY,
    IMAGE,
    BagError,
    typestore,
)


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
