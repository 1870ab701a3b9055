"""config/fastdds_profile.xml: Fast DDS accepts it, and every tool finds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from mtl_perception.dds_env import dds_env, fastdds_profile

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("profile_check")
node.create_publisher(String, "profile_check", 10).publish(String(data="x"))
node.destroy_node()
rclpy.shutdown()
print("created")
"""


def test_profile_is_found_and_user_setting_wins() -> None:
    profile = fastdds_profile()
    assert profile is not None and profile.name == "fastdds_profile.xml"
    assert profile.read_text() == (REPO / "config" / "fastdds_profile.xml").read_text()
    env = dds_env({"PATH": "/bin"})
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(profile)
    assert env["FASTDDS_BUILTIN_TRANSPORTS"] == "LARGE_DATA"
    mine = dds_env({"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"})
    assert mine["FASTDDS_DEFAULT_PROFILES_FILE"] == "/etc/mine.xml"


def test_fast_dds_parses_the_profile_without_errors() -> None:
    env = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=str(fastdds_profile()))
    run = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "created" in run.stdout, output
    assert "XMLPARSER" not in output and "Error" not in output, output


def test_a_broken_profile_is_reported_by_fast_dds(tmp_path: Path) -> None:
    """The check above can fail: a misspelt tag makes Fast DDS print an XMLPARSER error."""
    bad = tmp_path / "bad.xml"
    bad.write_text(fastdds_profile().read_text().replace("heartbeat_period", "heartbeatPeriod"))
    env = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=str(bad))
    run = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=60)
    assert "XMLPARSER" in run.stdout + run.stderr
