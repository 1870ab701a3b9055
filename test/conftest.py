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
