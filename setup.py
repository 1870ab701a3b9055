"""ament_python package definition; colcon builds it unchanged, and pip can install it."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mtl_perception"
TOOLS = ["PyYAML>=5.3", "rosbags>=0.10", "pycocotools>=2.0.7", "tqdm>=4.66", "matplotlib>=3.8"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config",
         glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (f"share/{PACKAGE}/config/models", glob("config/models/*.yaml")),
        (f"share/{PACKAGE}/models/demo", glob("models/demo/*")),
        # vision_msgs' own definitions, for bag tools where no distro provides vision_msgs
        (f"share/{PACKAGE}/interfaces/vision_msgs/msg", glob("interfaces/vision_msgs/msg/*.msg")),
        # ros2 run looks in lib/<package>/; a wheel install puts console scripts in bin/,
        # so these thin launchers make `ros2 run` work for pip installs too.
        (f"lib/{PACKAGE}", glob("scripts/ros2run/*")),
    ],
    # The runtime (the node, the inference core) runs on JetPack 5: Python 3.8, numpy 1.x.
    python_requires=">=3.8",
    install_requires=["numpy>=1.24", "opencv-python-headless>=4.5"],
    extras_require={
        "onnxruntime": ["onnxruntime>=1.17"],
        # torch-free workstation tools: bags, offline evaluation, plots
        "tools": TOOLS,
        "training": [
            *TOOLS,
            "torch>=2.1",
            "torchvision>=0.16",
            "onnx>=1.15",
            "onnxslim>=0.1.30",
        ],
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "mypy>=1.10", "vermin>=1.6"],
    },
    zip_safe=False,
    maintainer="mtl_perception maintainers",
    maintainer_email="mtl-perception@example.com",
    description="Multi-task perception (detection, drivable area, lanes) for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "perception_node = mtl_perception.ros.perception_node:main",
            "perception_lifecycle_node = mtl_perception.ros.lifecycle_node:main",
            "mtl-synth = mtl_perception.cli.entry_points:mtl_synth",
            "mtl-train = mtl_perception.cli.entry_points:mtl_train",
            "mtl-eval = mtl_perception.cli.entry_points:mtl_eval",
            "mtl-export = mtl_perception.cli.entry_points:mtl_export",
            "mtl-quantize = mtl_perception.cli.entry_points:mtl_quantize",
            "mtl-build-engine = mtl_perception.cli.entry_points:mtl_build_engine",
            "mtl-bdd2bag = mtl_perception.cli.entry_points:mtl_bdd2bag",
            "mtl-play = mtl_perception.cli.entry_points:mtl_play",
            "mtl-offline = mtl_perception.cli.entry_points:mtl_offline",
            "mtl-bench = mtl_perception.cli.entry_points:mtl_bench",
            "mtl-demo = mtl_perception.cli.entry_points:mtl_demo",
        ],
    },
)
