"""The DDS environment this package's processes run with (node, demo, benchmarks).

Fast DDS reads these settings from the environment when a process creates its participant,
so they are applied to child processes and before rclpy starts; values a user already set win.
The profile file's variable changed name with Fast DDS 3 (Kilted): Fast DDS 2.x (Humble,
Jazzy) reads only ``FASTRTPS_DEFAULT_PROFILES_FILE``, and 3.x reads both (loading a file
twice if both name it, which it reports as a duplicate profile), so exactly the one the
installed Fast DDS expects is set. The XML dialects differ too (2.x spells elements in
camelCase, ``heartbeatPeriod``; 3.x in snake_case), so each major version has its own file.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from mtl_perception.common.package_data import optional_data_path

PROFILE_FILES = {3: "fastdds_profile.xml", 2: "fastdds2_profile.xml"}
PROFILE_VARIABLES = (
    "FASTDDS_DEFAULT_PROFILES_FILE",  # Fast DDS 3.x
    "FASTRTPS_DEFAULT_PROFILES_FILE",  # Fast DDS 2.x
)
# Distributions whose Fast DDS is 2.x; later ones (Kilted, Rolling) ship 3.x.
FAST_DDS_2_DISTROS = ("foxy", "galactic", "humble", "iron", "jazzy")


def fast_dds_major() -> int:
    """Fast DDS's major version: from a sourced ROS_DISTRO, else the PyPI wheels installed."""
    distro = os.environ.get("ROS_DISTRO", "").strip().lower()
    if distro:
        return 2 if distro in FAST_DDS_2_DISTROS else 3
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("ros-fastdds", "ros-fastrtps"):  # 3.x and 2.x wheel names
        try:
            return int(version(dist).split(".")[0])
        except (PackageNotFoundError, ValueError):
            continue
    return 3


def profile_variable() -> str:
    """The environment variable the installed Fast DDS reads its profile file from."""
    return PROFILE_VARIABLES[0] if fast_dds_major() >= 3 else PROFILE_VARIABLES[1]


def fastdds_profile() -> Path | None:
    """The installed profile for this Fast DDS, or None where the package is not installed."""
    return optional_data_path("config", PROFILE_FILES[2 if fast_dds_major() < 3 else 3])


def apply_profile(env: MutableMapping[str, str]) -> None:
    """Point Fast DDS at our profile, unless the user set a profile file under either name."""
    if any(name in env for name in PROFILE_VARIABLES):
        return
    profile = fastdds_profile()
    if profile is not None:
        env[profile_variable()] = str(profile)


def dds_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: os.environ) with LARGE_DATA and the writer profile."""
    out = dict(os.environ if env is None else env)
    out.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    apply_profile(out)
    return out
