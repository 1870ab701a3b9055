"""The demo's processes: the real perception_node, mtl-play, and the recorder in this process."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mtl_perception.devtools.demo.stages import IMAGE_TOPIC, NAMESPACE, DemoContext, stage


def ros_env() -> dict[str, str]:
    """The environment for every ROS process the demo starts: isolated, LARGE_DATA, profile."""
    from mtl_perception.ros.dds_env import dds_env

    env = dds_env()
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(110, 200)))
    env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
    return env


def node_command(model: Path, ctx: DemoContext) -> list[str]:
    exe = shutil.which("perception_node") or str(Path(sys.executable).with_name(
        "perception_node"))
    return [exe, "--ros-args", "-r", f"__ns:={NAMESPACE}", "-r", f"image:={IMAGE_TOPIC}",
            "-p", f"model_path:={model}", "-p", f"confidence_threshold:={ctx.args.conf}",
            "-p", "publish_overlay:=false", "-p", "input_qos_depth:=1",
            # a deeper reliable output queue, so the recorder cannot lose an output
            "-p", "output_qos_depth:=20"]


def run_node_and_play(ctx: DemoContext, model: Path, bag: Path, env: dict[str, str]) -> Any:
    """Start the node, record its outputs while mtl-play plays the bag; returns the Recorder."""
    from mtl_perception.devtools.recorder import Recorder
    from mtl_perception.io import rosbag2

    logs = ctx.out / "logs"
    logs.mkdir(exist_ok=True)
    outputs = {f"{NAMESPACE}/detections": (rosbag2.DETECTION_ARRAY, "reliable"),
               f"{NAMESPACE}/drivable_area/mask": (rosbag2.IMAGE, "reliable"),
               f"{NAMESPACE}/lane/mask": (rosbag2.IMAGE, "reliable"),
               "/diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", "reliable")}
    for key, value in {**env}.items():
        if key.startswith(("ROS_", "FASTDDS_", "RMW_")):
            os.environ[key] = value  # the recorder lives in this process
    n_frames = ctx.info["drive"]["frames"]
    node_log = open(logs / "node.log", "w")  # noqa: SIM115 - closed in finally
    node = None
    recorder = Recorder(outputs)
    with stage(ctx, "node"):
        cmd = node_command(model, ctx)
        ctx.info["node_command"] = " ".join(cmd)
        node = subprocess.Popen(cmd, env=env, stdout=node_log, stderr=subprocess.STDOUT)
        recorder.start()
        ok = recorder.wait_for_publishers([f"{NAMESPACE}/detections"], ctx.args.node_timeout)
        if node.poll() is not None or not ok:
            raise RuntimeError(f"perception_node did not come up (exit code {node.poll()}); "
                               f"log: {_tail(logs / 'node.log')}")
    try:
        with stage(ctx, "play"):
            play_cmd = [sys.executable, "-m", "mtl_perception.devtools.play", str(bag),
                        "--topics", IMAGE_TOPIC, "--rate", str(ctx.args.rate),
                        "--wait-for-subscribers", "1", "--wait-timeout",
                        str(ctx.args.node_timeout), "--timing-log", str(logs / "play_times.txt")]
            ctx.info["play_command"] = " ".join(["mtl-play", *play_cmd[3:]])
            with open(logs / "play.log", "w") as play_log:
                rc = subprocess.run(play_cmd, env=env, stdout=play_log,
                                    stderr=subprocess.STDOUT, timeout=ctx.args.frames
                                    / ctx.args.fps / ctx.args.rate + 120).returncode
            if rc != 0:
                raise RuntimeError(f"mtl-play exited with {rc}: {_tail(logs / 'play.log')}")
            got = recorder.wait_idle(f"{NAMESPACE}/lane/mask", idle_s=3.0, timeout_s=60.0,
                                     expected=n_frames)
            if node.poll() is not None:
                raise RuntimeError(f"perception_node died (exit code {node.returncode}): "
                                   f"{_tail(logs / 'node.log')}")
            if got == 0:
                raise RuntimeError("the node published nothing; see logs/node.log")
            time.sleep(1.5)  # one more diagnostics period
            ctx.log(f"node published outputs for {got}/{n_frames} frames")
    finally:
        recorder.stop()
        if node is not None and node.poll() is None:
            node.terminate()
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.kill()
        node_log.close()
    recorder.write_bag(ctx.out / "recorded_bag")
    return recorder


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


