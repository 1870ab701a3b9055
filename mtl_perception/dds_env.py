"""The DDS environment this package's processes run with (node, demo, benchmarks).

Fast DDS reads both settings from the environment when a process creates its participant,
so they are applied to child processes and before rclpy starts; values a user already set win.
"""

from __future__ import annotations

import os
from pathlib import Path

from mtl_perception.common.package_data import optional_data_path

PROFILE_FILE = "fastdds_profile.xml"


def fastdds_profile() -> Path | None:
    """The installed config/fastdds_profile.xml, or None where the package is not installed."""
    return optional_data_path("config", PROFILE_FILE)


def dds_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: os.environ) with LARGE_DATA and the writer profile."""
    out = dict(os.environ if env is None else env)
    out.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    profile = fastdds_profile()
    if profile is not None:
        out.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    return out
