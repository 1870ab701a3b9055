"""The perception node: camera frames in; detections, masks, overlay and diagnostics out.

One node serves one camera (topics ``image``, ``detections``, ...) or, with the ``cameras``
parameter, several cameras through one shared model (``X/image``, ``X/detections``, ...):
see mtl_perception/ros/camera_streams.py for the per-camera topics and hand-off,
batch_worker.py for batching, perception_core.py for parameters and setup, and
docs/parameters.md. The managed (lifecycle) variant is lifecycle_node.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from mtl_perception.inference.backends import load_backend
from mtl_perception.ros.camera_streams import HANDOFF_TIMEOUT_S
from mtl_perception.ros.dds_env import apply_profile
from mtl_perception.ros.perception_core import PerceptionCore, StartupError, say
from mtl_perception.ros.ros_args import split_ros_args
from mtl_perception.ros.shutdown import ShutdownSignals

NODE_NAME = "perception"
__all__ = ["HANDOFF_TIMEOUT_S", "NODE_NAME", "PerceptionNode", "StartupError", "main",
           "run_node"]


def _load_backend(*args: Any, **kwargs: Any) -> Any:
    """This module's ``load_backend``, looked up per call (test fixtures wrap it)."""
    return load_backend(*args, **kwargs)


class PerceptionNode(Node):
    """Multi-task perception on one or more camera streams (importable for tests and
    composition). Raises StartupError with the one-line reason when it cannot start."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.core: PerceptionCore | None = None
        try:
            self.core = PerceptionCore(self, _load_backend)
            self.core.configure()
            self.core.activate()
        except BaseException:  # a startup error, or Ctrl-C while the model loads
            self.destroy_node()
            raise

    @property
    def pipeline(self) -> Any:
        return self.core.pipeline if self.core else None

    def destroy_node(self) -> None:
        """Stop the worker before the publishers go away (also after a failed __init__)."""
        if self.core is not None:
            self.core.cleanup()
        super().destroy_node()


def run_node(make_node: Callable[[], Node], prog: str, args: list[str] | None = None) -> int:
    """rclpy demo pattern: init, create, spin, handle shutdown, destroy, try_shutdown.

    ``args``: the command line without the program name (default ``sys.argv[1:]``); rclpy
    gets only its ``--ros-args`` sections. Exits 0 on SIGINT or SIGTERM, however many arrive
    and whenever (also during model loading): see mtl_perception/ros/shutdown.py.
    """
    own, ros = split_ros_args(sys.argv[1:] if args is None else args)
    signals = ShutdownSignals().install()  # before rclpy.init, so rclpy's handler chains to it
    node: Node | None = None
    executor: SingleThreadedExecutor | None = None
    code = 0
    try:
        if own:
            say(prog, f"ignoring arguments outside --ros-args: {' '.join(own)}")
        apply_profile(os.environ)  # before rclpy.init: Fast DDS reads it at participant start
        rclpy.init(args=ros, signal_handler_options=SignalHandlerOptions.ALL)
        with signals.deferred():
            executor = SingleThreadedExecutor()
        node = make_node()
        executor.add_node(node)
        executor.spin()
    except StartupError as exc:
        if not signals.interrupted:  # Ctrl-C while loading the model is not a startup error
            say(prog, f"cannot start: {exc}")
            code = 1
    except (KeyboardInterrupt, Exception) as exc:
        if not signals.absorbs(exc):
            raise
    finally:
        signals.disarm()  # ignore SIGINT/SIGTERM: teardown and exit run to the end
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def main(args: list[str] | None = None) -> int:
    return run_node(PerceptionNode, "perception_node", args)


if __name__ == "__main__":
    sys.exit(main())
