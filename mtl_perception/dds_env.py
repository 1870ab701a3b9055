"""The DDS environment this package's processes run with (node, demo, benchmarks).

Fast DDS reads both settings from the environment when a process creates its participant,
so they are applied to child processes and before rclpy starts; values a user already set win.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "mtl_perception"
PROFILE_FILE = "fastdds_profile.xml"


def fastdds_profile() -> Path | None:
    """config/fastdds_profile.xml: installed share first, then the source checkout."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory(PACKAGE)) / "config" / PROFILE_FILE
        if installed.is_file():
            return installed
    except Exception:  # no ament index (a plain venv) or the package is not registered
        pass
    source = Path(__file__).resolve().parents[1] / "config" / PROFILE_FILE
    return source if source.is_file() else None


def dds_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: os.environ) with LARGE_DATA and the writer profile."""
    out = dict(os.environ if env is None else env)
    out.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    profile = fastdds_profile()
    if profile is not None:
        out.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    return out
