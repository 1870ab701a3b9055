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

from mtl_perception.io.rosbag2.messages import (
    boxes_from_detections,
    camera_info_message,
    compressed_message,
    detections_message,
    image_message,
    image_to_rgb,
    raw_image_to_rgb,
    stamp_to_ns,
)
from mtl_perception.io.rosbag2.reader import (
    ImageFrame,
    TopicInfo,
    custom_data,
    is_bag,
    pick_image_topic,
    read_detections,
    read_image_frames,
    read_masks,
    read_messages,
    read_raw,
    topics,
)
from mtl_perception.io.rosbag2.typestore import (
    BAG_VERSION,
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    DETECTION_ARRAY,
    IMAGE,
    IMAGE_TYPES,
    STORAGES,
    BagError,
    storage_plugin,
    typestore,
)
from mtl_perception.io.rosbag2.writer import (
    BagWriter,
)

__all__ = [
    "BAG_VERSION",
    "CAMERA_INFO",
    "COMPRESSED_IMAGE",
    "DETECTION_ARRAY",
    "IMAGE",
    "IMAGE_TYPES",
    "STORAGES",
    "BagError",
    "BagWriter",
    "ImageFrame",
    "TopicInfo",
    "boxes_from_detections",
    "camera_info_message",
    "compressed_message",
    "custom_data",
    "detections_message",
    "image_message",
    "image_to_rgb",
    "is_bag",
    "pick_image_topic",
    "raw_image_to_rgb",
    "read_detections",
    "read_image_frames",
    "read_masks",
    "read_messages",
    "read_raw",
    "stamp_to_ns",
    "storage_plugin",
    "topics",
    "typestore",
]
