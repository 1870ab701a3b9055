"""The node's serialized Detection2DArray reads back, through rclpy, as the message it means."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from rclpy.serialization import deserialize_message
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from mtl_perception.inference.postprocess import Detections
from mtl_perception.ros import detections_cdr
from mtl_perception.ros.conversion import detections_to_msg


def _detections(names: list[str]) -> Detections:
    n = len(names)
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 1200, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.5, 400, (n, 2))], axis=1)
    return Detections(boxes.astype(np.float32), rng.uniform(0, 1, n).astype(np.float32),
                      np.arange(n, dtype=np.int64), names)


@pytest.mark.parametrize("frame_id", ["", "cam", "front_camera_optical_frame"])
@pytest.mark.parametrize("names", [[], ["car"], ["traffic light", "bus", "pedestrian"] * 4])
def test_serialized_array_equals_the_message_objects(frame_id: str, names: list[str]) -> None:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = 1_732_000_000, 999_999_999
    detections = _detections(names)
    decoded = deserialize_message(detections_cdr.encode_detections(header, detections),
                                  Detection2DArray)
    assert decoded == detections_to_msg(header, detections)
    assert [d.results[0].hypothesis.class_id for d in decoded.detections] == names
    if names:
        box = detections.boxes[0].astype(float)
        assert decoded.detections[0].bbox.size_x == box[2] - box[0]
        assert decoded.detections[0].results[0].pose.pose.orientation.w == 1.0


def test_self_check_passes_here_and_catches_a_wrong_layout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert detections_cdr.matches_rclpy_serializer()
    # One wrong default (orientation w = 0) must make the startup check fail.
    wrong = detections_cdr.struct.pack("<43d", *([0.0] * 43))
    monkeypatch.setattr(detections_cdr, "_POSE_AND_COVARIANCE", wrong)
    assert not detections_cdr.matches_rclpy_serializer()
