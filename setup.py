"""ament_python package definition; colcon builds it unchanged, and pip can install it."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mtl_perception"

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
        # ros2 run looks in lib/<package>/; a wheel install puts console scripts in bin/,
        # so these thin launchers make `ros2 run` work for pip installs too.
        (f"lib/{PACKAGE}", glob("scripts/ros2run/*")),
    ],
    install_requires=["numpy>=1.24", "opencv-python-headless>=4.8", "PyYAML>=6.0"],
    extras_require={
        "onnxruntime": ["onnxruntime>=1.17"],
        "training": [
            "torch>=2.1",
            "torchvision>=0.16",
            "onnx>=1.15",
            "onnxslim>=0.1.30",
            "pycocotools>=2.0.7",
            "rosbags>=0.10",
            "tqdm>=4.66",
            "matplotlib>=3.8",
        ],
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "mypy>=1.10"],
    },
    zip_safe=True,
    maintainer="mtl_perception maintainers",
    maintainer_email="mtl-perception@example.com",
    description="Multi-task perception (detection, drivable area, lanes) for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "perception_node = mtl_perception.ros.perception_node:main",
            "mtl-synth = mtl_perception.training.synth:main",
            "mtl-train = mtl_perception.training.train:main",
            "mtl-eval = mtl_perception.training.evaluate:main",
            "mtl-export = mtl_perception.training.export:main",
            "mtl-quantize = mtl_perception.training.quantize:main",
            "mtl-build-engine = mtl_perception.training.build_engine:main",
            "mtl-bdd2bag = mtl_perception.tools.bdd2bag:main",
            "mtl-play = mtl_perception.tools.play:main",
            "mtl-offline = mtl_perception.tools.offline:main",
            "mtl-bench = mtl_perception.tools.bench:main",
            "mtl-demo = mtl_perception.tools.demo:main",
        ],
    },
)
