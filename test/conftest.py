"""Shared test setup: isolate DDS traffic so parallel test runs on one machine never cross-talk."""

from __future__ import annotations

import os
import random

# Each pytest session gets its own ROS domain and stays on this host. Set before any rclpy
# import, and inherited by the subprocesses the tests start.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _ros_distro() -> str:
    """The ROS 2 distribution: a sourced install's ROS_DISTRO, else the PyPI wheels' set."""
    if os.environ.get("ROS_DISTRO"):
        return os.environ["ROS_DISTRO"]
    if _version("ros-jazzy-rclpy"):
        return f"jazzy (PyPI wheels, rclpy {_version('ros-rclpy')})"
    if _version("ros-rclpy"):
        return f"kilted (PyPI wheels, rclpy {_version('ros-rclpy')})"
    return "none"


def pytest_report_header(config: object) -> list[str]:
    """Each lane says what it runs on: interpreter, ROS distro, numpy, torch."""
    import platform

    import numpy

    torch = _version("torch")
    return [f"lane: {platform.python_implementation()} {platform.python_version()}, "
            f"ROS 2 {_ros_distro()}, numpy {numpy.__version__}, "
            f"{'torch ' + torch if torch else 'no torch'}"]
