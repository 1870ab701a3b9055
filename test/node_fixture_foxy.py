"""Fixture process: the perception node with vision_msgs replaced by the Foxy/Galactic layout.

Foxy's Detection2D has ``bbox.center.x`` (a geometry_msgs/Pose2D) and ObjectHypothesisWithPose
has ``id``/``score`` directly; the node must refuse to start with a clear message.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

from mtl_perception.ros import conversion, perception_node


class FoxyDetection2D:
    def __init__(self) -> None:
        self.bbox = SimpleNamespace(center=SimpleNamespace(x=0.0, y=0.0, theta=0.0))


class FoxyHypothesis:
    def __init__(self) -> None:
        self.id, self.score = "", 0.0


conversion.Detection2D = FoxyDetection2D
conversion.ObjectHypothesisWithPose = FoxyHypothesis

if __name__ == "__main__":
    sys.exit(perception_node.main())
