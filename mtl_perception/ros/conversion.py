"""ROS messages <-> numpy: image decoding (cv_bridge optional) and output message filling."""

from __future__ import annotations

import array
from collections.abc import Sequence

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from mtl_perception.common.errors import MtlError
from mtl_perception.inference.encodings import DecodedImage, decode_compressed, decode_raw
from mtl_perception.inference.postprocess import Detections


class VisionMsgsLayoutError(MtlError, RuntimeError):
    """The installed vision_msgs predates 4.x (Foxy/Galactic field layout)."""


def check_vision_msgs_layout() -> None:
    """Fail early and clearly on the Foxy/Galactic layout (``bbox.center.x``, no ``position``)."""
    det = Detection2D()
    hyp = ObjectHypothesisWithPose()
    if not hasattr(det.bbox.center, "position") or not hasattr(hyp, "hypothesis"):
        raise VisionMsgsLayoutError(
            "vision_msgs has the Foxy/Galactic layout (bbox.center without .position); "
            "mtl_perception needs vision_msgs >= 4.0 (Humble or newer)"
        )


def image_to_array(msg: Image, max_pixels: int) -> DecodedImage:
    """sensor_msgs/Image -> pixels, a view of ``msg.data`` where the layout allows."""
    return decode_raw(msg.encoding, msg.width, msg.height, msg.step, msg.data,
                      bool(msg.is_bigendian), max_pixels)


def compressed_to_array(msg: CompressedImage, max_pixels: int) -> DecodedImage:
    return decode_compressed(msg.format, msg.data, max_pixels)


class ImageFiller:
    """Fills one reused sensor_msgs/Image per output, with one reused data buffer.

    publish() serializes synchronously, so the message and its buffer may be refilled for the
    next frame; reusing both saves building a message and re-checking its data every frame.
    :meth:`view` lends the buffer as an array so a producer can write pixels in place;
    :meth:`fill` then skips its copy.
    """

    def __init__(self) -> None:
        self._buffer = array.array("B")
        self._msg = Image()
        self._msg.is_bigendian = 0

    def view(self, height: int, width: int, channels: int = 1) -> np.ndarray:
        """The message buffer as a writable uint8 array of this shape (valid until resized)."""
        size = height * width * channels
        if len(self._buffer) != size:
            self._buffer = array.array("B", bytes(size))
        flat = np.frombuffer(self._buffer, np.uint8)
        return flat.reshape((height, width) if channels == 1 else (height, width, channels))

    def fill(self, header: Header, pixels: np.ndarray, encoding: str) -> Image:
        h, w = pixels.shape[:2]
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        target = self.view(h, w, channels)
        in_place = (pixels.ctypes.data == target.ctypes.data and pixels.flags.c_contiguous
                    and pixels.shape == target.shape and pixels.dtype == np.uint8)
        if not in_place:
            target[...] = pixels  # numpy copies through a temporary if the two overlap
        msg = self._msg
        msg.header = header
        if (msg.height, msg.width, msg.step, msg.encoding) != (h, w, w * channels, encoding):
            msg.height, msg.width, msg.step, msg.encoding = h, w, w * channels, encoding
        if msg.data is not self._buffer:
            msg.data = self._buffer
        return msg


def detections_to_msg(header: Header, detections: Detections) -> Detection2DArray:
    """Detection2DArray in original-image pixels; class_id = class name, id = rank."""
    out = Detection2DArray()
    out.header = header
    boxes = detections.boxes.astype(float)
    items = []
    for index, (box, score, name) in enumerate(
        zip(boxes, detections.scores.tolist(), detections.class_names)
    ):
        x1, y1, x2, y2 = box.tolist()
        det = Detection2D()
        det.header = header
        det.id = str(index)
        det.bbox.center.position.x = (x1 + x2) / 2.0
        det.bbox.center.position.y = (y1 + y2) / 2.0
        det.bbox.size_x = x2 - x1
        det.bbox.size_y = y2 - y1
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = name
        hyp.hypothesis.score = float(score)
        det.results = [hyp]
        items.append(det)
    out.detections = items
    return out


def label_info_msg(header: Header, class_names: Sequence[str], threshold: float) -> LabelInfo:
    """LabelInfo mapping class index -> name (detections carry names as class_id)."""
    msg = LabelInfo()
    msg.header = header
    msg.class_map = [VisionClass(class_id=i, class_name=n) for i, n in enumerate(class_names)]
    msg.threshold = float(threshold)
    return msg
