"""The managed perception node (``rclpy.lifecycle``, Humble and later): executable
``perception_lifecycle_node``; ``launch_ros``' ``LifecycleNode`` and ``ros2 lifecycle set``
drive it.

* configure: validates the parameters and loads the model (or builds/loads the engine). On a
  bad parameter or a missing model it logs ``cannot configure: <the one-line reason of the
  plain node's startup error>``, returns FAILURE and stays unconfigured; fix the parameter
  (``ros2 param set``: start-time parameters are writable while unconfigured) and configure
  again.
* activate: subscribes, publishes, starts the worker and the diagnostics timer.
* deactivate: unsubscribes, stops the worker, forgets waiting frames and removes the timer:
  an inactive node holds no frames and uses no CPU.
* cleanup: releases the backend. shutdown: from any state, releases everything.

Topics, parameters and cameras are those of the plain node (docs/parameters.md).
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from mtl_perception.ros import perception_node
from mtl_perception.ros.perception_core import PerceptionCore, StartupError

NODE_NAME = "perception"


class LifecyclePerceptionNode(LifecycleNode):
    """The perception node as a managed node; starts unconfigured."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        try:  # only a parameter of the wrong type fails here; the rest waits for configure
            self.core = PerceptionCore(self, perception_node._load_backend, managed=True)
        except BaseException:
            super().destroy_node()
            raise

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.core.configure()
        except StartupError as exc:
            self.get_logger().error(f"cannot configure: {exc}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.activate()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in state {state.label}: releasing the backend")
        self.core.cleanup()
        return TransitionCallbackReturn.SUCCESS  # -> unconfigured

    def destroy_node(self) -> None:
        self.core.cleanup()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return perception_node.run_node(LifecyclePerceptionNode, "perception_lifecycle_node", args)


if __name__ == "__main__":
    sys.exit(main())
