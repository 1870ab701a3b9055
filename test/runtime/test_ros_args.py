"""split_ros_args: rclpy gets the --ros-args sections, the tool's parser everything else."""

from __future__ import annotations

from mtl_perception.ros.ros_args import rclpy_args, split_ros_args


def test_remap_rules_of_the_tool_stay_with_the_tool() -> None:
    own, ros = split_ros_args(["bag", "--remap", "/a:=/b", "--ros-args", "-r", "x:=y",
                               "-p", "p:=1", "--", "--rate", "2",
                               "--ros-args", "--log-level", "debug"])
    assert own == ["bag", "--remap", "/a:=/b", "--rate", "2"]
    assert ros == ["--ros-args", "-r", "x:=y", "-p", "p:=1", "--ros-args", "--log-level", "debug"]


def test_no_ros_args_and_a_plain_double_dash() -> None:
    assert split_ros_args([]) == ([], [])
    assert split_ros_args(["--", "--rates", "30"]) == (["--", "--rates", "30"], [])
    assert split_ros_args(["--ros-args"]) == ([], ["--ros-args"])


def test_rclpy_args_reads_sys_argv_without_the_program_name(monkeypatch) -> None:
    monkeypatch.setattr("sys.argv", ["--ros-args", "x", "--ros-args", "-r", "a:=b"])
    # sys.argv[0] is the program, even when it looks like an option
    assert rclpy_args() == ["--ros-args", "-r", "a:=b"]
    assert rclpy_args(["a:=b"]) == []
