"""mtl_perception: one multi-task network (detection, drivable area, lane lines) for ROS 2."""

__version__ = "0.1.0"
