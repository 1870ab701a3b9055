"""Start one perception node for several cameras (one shared model), plain or managed.

    ros2 launch mtl_perception multi_camera.launch.py model_path:=model.onnx \
        cameras:=front,left,right \
        image_topics:=/front/image_raw,/left/image_raw,/right/image_raw

Arguments: cameras (comma-separated names; empty = one camera on today's topics),
image_topics (comma-separated, in the order of cameras: camera X's ``X/image`` is remapped
to it; empty = no remapping), params_file, model_path, backend, namespace, lifecycle (true:
the managed ``perception_lifecycle_node`` as a launch_ros ``LifecycleNode``) and autostart
(with lifecycle: configure, then activate once inactive). Camera X publishes
``X/detections``, ``X/drivable_area/mask``, ``X/lane/mask`` and ``X/overlay`` under the
namespace. Sets FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA like perception.launch.py.
"""

from __future__ import annotations

import os

import launch.events
from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription

PACKAGE = "mtl_perception"


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _nodes(context: LaunchContext) -> list:
    cameras = _names(LaunchConfiguration("cameras").perform(context))
    topics = _names(LaunchConfiguration("image_topics").perform(context))
    if topics and len(topics) != max(1, len(cameras)):
        raise RuntimeError(f"image_topics names {len(topics)} topics for "
                           f"{max(1, len(cameras))} cameras; give one per camera, in order")
    inputs = [f"{c}/image" for c in cameras] or ["image"]
    remappings = list(zip(inputs, topics))
    overrides: dict = {"backend": LaunchConfiguration("backend")}
    if LaunchConfiguration("model_path").perform(context):
        overrides["model_path"] = LaunchConfiguration("model_path")
    if cameras:
        overrides["cameras"] = cameras
    common = dict(
        package=PACKAGE,
        name="perception",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=remappings,
        output="screen",
        emulate_tty=True,
    )
    if LaunchConfiguration("lifecycle").perform(context).lower() not in ("true", "1"):
        return [Node(executable="perception_node", **common)]
    node = LifecycleNode(executable="perception_lifecycle_node", **common)
    actions: list = [node]
    if LaunchConfiguration("autostart").perform(context).lower() in ("true", "1"):
        actions += [
            RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=node, goal_state="inactive",
                entities=[EmitEvent(event=ChangeState(
                    lifecycle_node_matcher=launch.events.matches_action(node),
                    transition_id=Transition.TRANSITION_ACTIVATE))])),
            EmitEvent(event=ChangeState(
                lifecycle_node_matcher=launch.events.matches_action(node),
                transition_id=Transition.TRANSITION_CONFIGURE)),
        ]
    return actions


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument(
            "cameras", default_value="",
            description="Comma-separated camera names; empty = one camera on image, ..."),
        DeclareLaunchArgument(
            "image_topics", default_value="",
            description="Comma-separated input topics, one per camera in order (remaps X/image)"),
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(share, "config", "perception.yaml"),
            description="Node parameters (YAML)"),
        DeclareLaunchArgument(
            "model_path", default_value="",
            description="Exported ONNX model or engine; empty keeps the params file's value"),
        DeclareLaunchArgument(
            "backend", default_value="auto", description="auto | onnxruntime | tensorrt"),
        DeclareLaunchArgument(
            "namespace", default_value="", description="Namespace for the node and its topics"),
        DeclareLaunchArgument(
            "lifecycle", default_value="false",
            description="true: the managed node (perception_lifecycle_node)"),
        DeclareLaunchArgument(
            "autostart", default_value="true",
            description="With lifecycle: configure and activate at launch"),
        SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA"),
        OpaqueFunction(function=_nodes),
    ])
