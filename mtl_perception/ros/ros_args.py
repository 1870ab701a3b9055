"""Split a command line into a tool's own arguments and the ``--ros-args`` part for rclpy.

``rclpy.init()`` reads ``sys.argv`` when given no ``args``, and rcl then reads any ``FROM:=TO``
outside ``--ros-args`` as a remap rule in the deprecated syntax: ``mtl-play BAG --remap
/a:=/b`` printed ``Found remap rule '/a:=/b'. This syntax is deprecated.`` So every tool
passes rclpy only its ``--ros-args`` sections, and its own parser gets the rest.

The split follows rcl's grammar: a section starts at ``--ros-args`` and ends at ``--``
(dropped) or at the end of the line; there may be several. It is done here rather than with
``rclpy.utilities.remove_ros_args``, which also removes (and warns about) every ``FROM:=TO``
outside the sections, so ``--remap /a:=/b`` would reach the tool's parser as a bare
``--remap``. No rclpy import: a tool's ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

ROS_ARGS = "--ros-args"
END = "--"


def split_ros_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(own, ros)``: the arguments outside every ``--ros-args`` section, and the sections
    themselves (each beginning with ``--ros-args``), ready for ``rclpy.init(args=ros)``."""
    own: list[str] = []
    ros: list[str] = []
    inside = False
    for arg in argv:
        if inside:
            if arg == END:
                inside = False
            else:
                ros.append(arg)
        elif arg == ROS_ARGS:
            inside = True
            ros.append(arg)
        else:
            own.append(arg)
    return own, ros


def rclpy_args(argv: Sequence[str] | None = None) -> list[str]:
    """Only the ``--ros-args`` sections of ``argv`` (default ``sys.argv``): for helpers
    inside a process whose command line is not theirs to parse (mtl-demo's recorder)."""
    return split_ros_args(sys.argv[1:] if argv is None else argv)[1]
