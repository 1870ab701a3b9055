"""The Fast DDS profiles (2.x and 3.x dialects): Fast DDS accepts them, and every tool finds one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from mtl_perception.ros.dds_env import (
    PROFILE_FILES,
    PROFILE_VARIABLES,
    dds_env,
    fastdds_profile,
    profile_variable,
)

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
    assert profile is not None and profile.name in PROFILE_FILES.values()
    assert profile.read_text() == (REPO / "config" / profile.name).read_text()
    env = dds_env({"PATH": "/bin"})
    assert env[profile_variable()] == str(profile)
    assert [n for n in PROFILE_VARIABLES if n in env] == [profile_variable()]
    assert env["FASTDDS_BUILTIN_TRANSPORTS"] == "LARGE_DATA"
    for name in PROFILE_VARIABLES:  # a user's file under either name leaves both alone
        mine = dds_env({name: "/etc/mine.xml"})
        assert mine[name] == "/etc/mine.xml"
        assert [n for n in PROFILE_VARIABLES if n in mine] == [name]


def _profile_env(path: Path) -> dict[str, str]:
    """The environment that points this rclpy's Fast DDS (2.x or 3.x) at ``path``."""
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    return {**env, profile_variable(): str(path)}


@pytest.mark.parametrize(("distro", "variable"), [
    ("humble", "FASTRTPS_DEFAULT_PROFILES_FILE"), ("jazzy", "FASTRTPS_DEFAULT_PROFILES_FILE"),
    ("kilted", "FASTDDS_DEFAULT_PROFILES_FILE"), ("rolling", "FASTDDS_DEFAULT_PROFILES_FILE")])
def test_a_sourced_distro_picks_its_fast_dds_variable(monkeypatch: pytest.MonkeyPatch,
                                                      distro: str, variable: str) -> None:
    monkeypatch.setenv("ROS_DISTRO", distro)
    assert profile_variable() == variable
    profile = fastdds_profile()
    assert profile is not None
    assert profile.name == PROFILE_FILES[2 if variable.startswith("FASTRTPS") else 3]


def test_both_dialects_carry_the_same_heartbeat() -> None:
    """fastdds_profile.xml (3.x) and fastdds2_profile.xml (2.x) say the same thing."""
    import xml.etree.ElementTree as ET

    periods = {}
    for major, name in PROFILE_FILES.items():
        root = ET.parse(REPO / "config" / name).getroot()
        found = [e for e in root.iter() if e.tag.split("}")[-1] in ("heartbeat_period",
                                                                    "heartbeatPeriod")]
        assert len(found) == 1, name
        periods[major] = {c.tag.split("}")[-1]: c.text for c in found[0]}
    assert periods[2] == periods[3] == {"sec": "0", "nanosec": "100000000"}


def test_fast_dds_parses_the_profile_without_errors() -> None:
    env = _profile_env(fastdds_profile())
    run = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "created" in run.stdout, output
    assert "XMLPARSER" not in output and "Error" not in output, output


def test_a_broken_profile_is_reported_by_fast_dds(tmp_path: Path) -> None:
    """The check above can fail: a misspelt tag makes Fast DDS print an XMLPARSER error."""
    bad = tmp_path / "bad.xml"
    text = fastdds_profile().read_text()
    bad.write_text(text.replace("heartbeat_period", "heartbeat_perod")
                   .replace("heartbeatPeriod", "heartbeatPerod"))
    assert bad.read_text() != text
    env = _profile_env(bad)
    run = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=60)
    assert "XMLPARSER" in run.stdout + run.stderr
