"""The message types a bag holds: the Jazzy type store plus vision_msgs, and the storage
plugins. Why: every bag this package reads or writes must agree on the type definitions.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.msg import get_types_from_msg
from rosbags.typesys.store import Typestore

from mtl_perception.common.errors import MtlError
from mtl_perception.common.package_data import PackageDataError, data_path

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTION_ARRAY = "vision_msgs/msg/Detection2DArray"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
STORAGES = ("mcap", "sqlite3")
BAG_VERSION = 8  # what Jazzy writes; rosbags can also write 9 (Kilted)

class BagError(MtlError, RuntimeError):
    """A bag is missing, unreadable or holds no usable topic."""


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
