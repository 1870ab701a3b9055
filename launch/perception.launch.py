"""Start one perception node for one camera (include it once per camera, with a namespace).

Arguments: params_file, image_topic, model_path, backend, namespace, use_rviz. Sets
FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA so 720p frames cross processes reliably over Fast DDS
(see docs/parameters.md). The node applies its Fast DDS writer profile itself.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "mtl_perception"


def _perception_node(overrides: dict, condition: object) -> Node:
    return Node(
        package=PACKAGE,
        executable="perception_node",
        name="perception",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=[("image", LaunchConfiguration("image_topic"))],
        output="screen",
        emulate_tty=True,
        condition=condition,
    )


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    model_path = LaunchConfiguration("model_path")
    backend = LaunchConfiguration("backend")
    model_given = PythonExpression(["'", model_path, "' != ''"])
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(share, "config", "perception.yaml"),
            description="Node parameters (YAML)"),
        DeclareLaunchArgument(
            "image_topic", default_value="image",
            description="Camera image topic (the compressed transport appends /compressed)"),
        DeclareLaunchArgument(
            "model_path", default_value="",
            description="Exported ONNX model or engine; empty keeps the params file's value"),
        DeclareLaunchArgument(
            "backend", default_value="auto", description="auto | onnxruntime | tensorrt"),
        DeclareLaunchArgument(
            "namespace", default_value="", description="Namespace for the node and its topics"),
        DeclareLaunchArgument(
            "use_rviz", default_value="false", description="Also start rviz2 with the overlay"),
        SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA"),
        # One of these two starts: an empty model_path must not override the params file.
        _perception_node({"backend": backend, "model_path": model_path}, IfCondition(model_given)),
        _perception_node({"backend": backend}, UnlessCondition(model_given)),
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            namespace=LaunchConfiguration("namespace"),
            arguments=["-d", os.path.join(share, "config", "perception.rviz")],
            condition=IfCondition(LaunchConfiguration("use_rviz")),
        ),
    ])
