"""mtl-demo: the whole story on one machine, with the real node over real DDS.

    mtl-demo --out demo_out             (what ``make demo`` runs)

Stages, each named in the error if it fails (exit code 1, or 2 for bad arguments):
  drive     render a synthetic BDD-style drive (mtl-synth's drive mode; 20 s at 10 Hz)
  model     the demo model: --model, else models/demo/model.onnx (committed, produced by the
            repo's mtl-train; see models/demo/README.md), else train it with the repo's
            recipe and cache it under --cache-dir, keyed by recipe + seed + code hash
  bag       write the drive to a rosbag2 bag (mtl-bdd2bag, with ground-truth boxes)
  node      start the real perception_node (a subprocess) and wait until it subscribes
  play      mtl-play the bag into it while this process records what it publishes
  evaluate  score the recorded outputs against the drive's ground truth
  render    overlay MP4 + PNGs of what the node published
  summary   demo_out/summary.md: metrics, latency table, the commands for real data
  check     the metrics must reach vehicle AP50 >= 0.6, drivable mIoU >= 0.9, lane IoU >= 0.4
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.resources
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtl_perception.common.errors import MtlError
from mtl_perception.common.package_data import data_path, optional_data_path

DEMO_RECIPE = ("config", "models", "mobilenetv2_bifpn_small.yaml")  # under share/mtl_perception
THRESHOLDS = {"vehicle_ap50": 0.6, "drivable_miou": 0.9, "lane_iou": 0.4}
NAMESPACE = "/perception"
IMAGE_TOPIC = "/camera/image_raw"
GT_TOPIC = "/ground_truth/detections"
START_NS = 1_700_000_000 * 10**9  # fixed, so two demo runs produce identical bags


class StageError(MtlError, RuntimeError):
    """A demo stage failed; ``stage`` names it."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass
class DemoContext:
    args: argparse.Namespace
    out: Path
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def log(self, text: str) -> None:
        print(f"[mtl-demo] {text}", flush=True)


@contextlib.contextmanager
def stage(ctx: DemoContext, name: str) -> Iterator[None]:
    """Time a stage and turn any failure into a StageError that names it."""
    ctx.log(f"stage {name} ...")
    t0 = time.perf_counter()
    try:
        yield
    except StageError:
        raise
    except (Exception, KeyboardInterrupt) as exc:
        raise StageError(name, f"{type(exc).__name__}: {exc}") from exc
    finally:
        ctx.timings[name] = time.perf_counter() - t0
    ctx.log(f"stage {name} done in {ctx.timings[name]:.1f} s")


# ----------------------------------------------------------------------------- stages
def make_drive(ctx: DemoContext) -> Path:
    from mtl_perception.synth.generate import generate_drive

    root = ctx.out / "drive"
    if root.exists():
        shutil.rmtree(root)
    a = ctx.args
    names = generate_drive(root, a.frames, a.fps, seed=a.seed, width=a.width, height=a.height,
                           split="val", progress=not a.quiet)
    ctx.info["drive"] = {"frames": len(names), "fps": a.fps, "size": f"{a.width}x{a.height}",
                         "seed": a.seed}
    return root


def make_bag(ctx: DemoContext, drive: Path) -> Path:
    from mtl_perception.devtools import bdd2bag
    bag = ctx.out / "drive_bag"
    if bag.exists():
        shutil.rmtree(bag)
    rc = bdd2bag.main([str(drive / "images" / "100k" / "val"), "--out", str(bag),
                       "--rate", str(ctx.args.fps), "--start-time", str(START_NS / 1e9),
                       "--topic", IMAGE_TOPIC, "--frame-id", "camera_front", "--camera-info",
                       "--labels", str(drive / "labels" / "det_20" / "det_val.json"),
                       "--gt-topic", GT_TOPIC, *(["--quiet"] if ctx.args.quiet else [])])
    if rc != 0:
        raise RuntimeError(f"mtl-bdd2bag exited with {rc}")
    return bag


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


@dataclass
class NodeOutputs:
    """The recorded outputs decoded and keyed by header stamp."""

    boxes: dict[int, list[Any]]
    drivable: dict[int, np.ndarray]
    lane: dict[int, np.ndarray]
    latency_ms: list[float]
    detection_latency_ms: list[float]
    diagnostics: dict[str, str]


def publish_times(path: Path) -> dict[int, float]:
    """mtl-play's --timing-log: header stamp (= log time here) -> publish wall time (s)."""
    times: dict[int, float] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            topic, log_ns, wall_ns = line.split()
            if topic == IMAGE_TOPIC:
                times[int(log_ns)] = int(wall_ns) / 1e9
    return times


def decode_recording(recorder: Any, input_published: dict[int, float]) -> NodeOutputs:
    from mtl_perception.io import rosbag2
    store = rosbag2.typestore()
    boxes: dict[int, list[Any]] = {}
    drivable: dict[int, np.ndarray] = {}
    lane: dict[int, np.ndarray] = {}
    output_arrival: dict[int, float] = {}
    det_arrival: dict[int, float] = {}
    diagnostics: dict[str, str] = {}
    for m in recorder.recording.messages:
        msg = store.deserialize_cdr(m.data, m.msgtype)
        if m.topic == "/diagnostics":
            for status in msg.status:
                if status.name.startswith(NAMESPACE.strip("/")) or "perception" in status.name:
                    diagnostics = {kv.key: kv.value for kv in status.values}
            continue
        stamp = rosbag2.stamp_to_ns(msg.header.stamp)
        if m.topic.endswith("/detections"):
            boxes[stamp] = rosbag2.boxes_from_detections(msg)
            det_arrival[stamp] = m.arrival
            output_arrival[stamp] = max(output_arrival.get(stamp, 0.0), m.arrival)
        else:
            h, w, step = int(msg.height), int(msg.width), int(msg.step)
            mask = np.asarray(msg.data, np.uint8)[: h * step].reshape(h, step)[:, :w].copy()
            (drivable if "drivable" in m.topic else lane)[stamp] = mask
            output_arrival[stamp] = max(output_arrival.get(stamp, 0.0), m.arrival)
    latency = [(output_arrival[s] - input_published[s]) * 1e3
               for s in output_arrival if s in input_published]
    det_latency = [(det_arrival[s] - input_published[s]) * 1e3
                   for s in det_arrival if s in input_published]
    return NodeOutputs(boxes, drivable, lane, latency, det_latency, diagnostics)


def evaluate(ctx: DemoContext, drive: Path, bag: Path, outputs: NodeOutputs,
             class_names: tuple[str, ...], drivable_classes: int) -> dict[str, Any]:
    from mtl_perception.evaluation.evaluator import Evaluator
    from mtl_perception.evaluation.groundtruth import GroundTruth
    from mtl_perception.io import rosbag2
    from mtl_perception.io.sources import bag_frame_names

    truth = GroundTruth.from_bdd_root(drive, "val")
    names = bag_frame_names(bag)
    evaluator = Evaluator(class_names, drivable_classes)
    shape = (ctx.args.height, ctx.args.width)
    for index, info in enumerate(rosbag2.read_messages(bag, [IMAGE_TOPIC])):
        stamp = rosbag2.stamp_to_ns(info[3].header.stamp)
        if stamp not in outputs.boxes or stamp not in outputs.drivable or stamp not in outputs.lane:
            continue
        frame_truth = truth.frame(names[index], shape)
        if frame_truth is None:
            raise RuntimeError(f"no ground truth for {names[index]}")
        evaluator.add(frame_truth, outputs.boxes[stamp], outputs.drivable[stamp],
                      outputs.lane[stamp])
    metrics = evaluator.result({
        "source": "perception_node over DDS (recorded)", "conf_threshold": ctx.args.conf,
        "masks": "source resolution", "lane_width_px_at_1280": truth.lane_width_at_1280,
    })
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def render(ctx: DemoContext, bag: Path, outputs: NodeOutputs, n_png: int = 4) -> list[Path]:
    import cv2

    from mtl_perception.evaluation.render import VideoSink, overlay_bgr
    from mtl_perception.io import rosbag2

    video = VideoSink(ctx.out / "overlay.mp4", ctx.args.fps)
    stamps = sorted(set(outputs.boxes) & set(outputs.drivable) & set(outputs.lane))
    picks = {stamps[round(i * (len(stamps) - 1) / max(1, n_png - 1))] for i in range(n_png)
             } if stamps else set()
    pngs = []
    try:
        for frame in rosbag2.read_image_frames(bag, IMAGE_TOPIC):
            s = frame.stamp_ns
            if s not in outputs.boxes or s not in outputs.drivable or s not in outputs.lane:
                continue
            bgr = overlay_bgr(frame.rgb, outputs.boxes[s], outputs.drivable[s], outputs.lane[s])
            video.write(bgr)
            if s in picks:
                path = ctx.out / f"overlay_{(s - START_NS) / 1e9:05.1f}s.png"
                cv2.imwrite(str(path), bgr)
                pngs.append(path)
    finally:
        video.close()
    if video.frames == 0:
        raise RuntimeError("no frame had all three outputs to draw")
    return sorted(pngs)


def latency_rows(outputs: NodeOutputs) -> list[tuple[str, str, str, str]]:
    rows = []
    for label, values in (
        ("end to end over DDS: mtl-play publish -> detections received",
         outputs.detection_latency_ms),
        ("end to end over DDS: mtl-play publish -> all 3 outputs received",
         outputs.latency_ms),
    ):
        if values:
            arr = np.asarray(values)
            rows.append((label, f"{np.percentile(arr, 50):.1f}", f"{np.percentile(arr, 99):.1f}",
                         str(arr.size)))
    d = outputs.diagnostics
    for stage_name in ("decode", "preprocess", "inference", "postprocess", "publish", "total"):
        p50, p99 = d.get(f"{stage_name}_ms_p50"), d.get(f"{stage_name}_ms_p99")
        if p50 is not None:
            rows.append((f"node stage `{stage_name}` (from /diagnostics)",
                         f"{float(p50):.1f}", f"{float(p99 or 'nan'):.1f}",
                         d.get("frames_processed", "?")))
    return rows


# ----------------------------------------------------------------------------- model
def code_hash() -> str:
    """Hash of everything that shapes a trained demo model: training code and generator."""
    h = hashlib.sha256()
    pkg = Path(str(importlib.resources.files("mtl_perception.training")))
    for path in sorted(pkg.rglob("*.py")):
        h.update(path.relative_to(pkg).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TrainPlan:
    """The demo's training recipe: stills from mtl-synth, then mtl-train, then mtl-export."""

    recipe: Path
    seed: int
    n_train: int
    n_val: int
    width: int
    height: int
    epochs_phase1: int
    epochs_phase2: int

    def key(self) -> str:
        h = hashlib.sha256()
        h.update(self.recipe.read_bytes())
        h.update(json.dumps([self.seed, self.n_train, self.n_val, self.width, self.height,
                             self.epochs_phase1, self.epochs_phase2]).encode())
        h.update(code_hash().encode())
        return h.hexdigest()[:20]

    def commands(self, data: Path, run: Path, onnx: Path) -> list[list[str]]:
        return [
            ["mtl-synth", "--out", str(data), "--train", str(self.n_train), "--val",
             str(self.n_val), "--seed", str(self.seed), "--width", str(self.width),
             "--height", str(self.height), "--workers", "2"],
            ["mtl-train", "--config", str(self.recipe), "--data", str(data), "--out", str(run),
             "--epochs-phase1", str(self.epochs_phase1), "--epochs-phase2",
             str(self.epochs_phase2), "--val-every", str(self.epochs_phase1 + self.epochs_phase2),
             "--limit-val", str(self.n_val), "--no-pretrained"],
            ["mtl-export", "--weights", str(run / "best.pt"), "--out", str(onnx)],
        ]


def train_plan(args: argparse.Namespace) -> TrainPlan:
    recipe = Path(args.recipe) if args.recipe else data_path(*DEMO_RECIPE)
    return TrainPlan(recipe, args.train_seed, args.train_images, 64, 640, 360,
                     args.epochs_phase1, args.epochs_phase2)


def obtain_model(ctx: DemoContext) -> Path:
    a = ctx.args
    if a.model is not None:
        if not Path(a.model).is_file():
            raise FileNotFoundError(f"--model {a.model} does not exist")
        ctx.info["model"] = {"source": "--model", "path": str(a.model)}
        return Path(a.model)
    committed = optional_data_path("models", "demo", "model.onnx")
    if committed is not None and not a.train:
        ctx.info["model"] = {"source": "committed (models/demo/README.md has its provenance)",
                             "path": str(committed)}
        return committed
    plan = train_plan(a)
    cached = Path(a.cache_dir).expanduser() / "demo-model" / plan.key() / "model.onnx"
    ctx.info["model"] = {"source": "trained by the demo with the repo's recipe",
                         "path": str(cached), "cache_key": plan.key(),
                         "commands": [" ".join(c) for c in plan.commands(
                             Path("DATA"), Path("RUN"), Path("model.onnx"))]}
    if cached.is_file():
        ctx.info["model"]["source"] += " (cached)"
        return cached
    work = cached.parent / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    bindir = Path(sys.executable).parent
    for cmd in plan.commands(work / "data", work / "run", work / "model.onnx"):
        exe = shutil.which(cmd[0]) or str(bindir / cmd[0])
        ctx.log(" ".join(cmd))
        rc = subprocess.run([exe, *cmd[1:]]).returncode
        if rc != 0:
            raise RuntimeError(f"{cmd[0]} exited with {rc}")
    (work / "model.onnx").replace(cached)
    for name in ("metrics.csv", "best.pt"):
        src = work / "run" / name
        if src.exists():
            shutil.copy2(src, cached.parent / name)
    shutil.rmtree(work / "data", ignore_errors=True)
    return cached


def model_classes(model: Path) -> tuple[tuple[str, ...], int]:
    from mtl_perception.inference.backends import load_backend

    backend = load_backend(model, "onnxruntime")
    try:
        return backend.spec.detection_classes, len(backend.spec.drivable_classes)
    finally:
        backend.close()


# ----------------------------------------------------------------------------- summary
def fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def write_summary(ctx: DemoContext, metrics: dict[str, Any], outputs: NodeOutputs,
                  pngs: list[Path], passed: dict[str, bool]) -> Path:
    from mtl_perception.evaluation.evaluator import headline

    h = headline(metrics)
    n = ctx.info["drive"]["frames"]
    got = len(set(outputs.boxes) & set(outputs.lane) & set(outputs.drivable))
    det = ((metrics.get("detection") or {}).get("yolop") or {}).get("vehicle") or {}
    drv, lane = metrics.get("drivable") or {}, metrics.get("lane") or {}
    n_classes = len((((metrics.get("detection") or {}).get("yolop") or {}).get("classes") or {})
                    .get("ap50_per_class") or {})
    lines = [
        "# mtl_perception demo",
        "",
        f"A synthetic BDD-style drive ({n} frames, {ctx.info['drive']['size']}, "
        f"{ctx.info['drive']['fps']:g} Hz, seed {ctx.info['drive']['seed']}) was written to a "
        "rosbag2 bag, played with `mtl-play` into the real `perception_node` over Fast DDS "
        "(LARGE_DATA transport), and everything the node published was recorded "
        "(`recorded_bag/`).",
        "",
        f"- model: {ctx.info['model']['source']}: `{ctx.info['model']['path']}`",
        f"- node published outputs for **{got} of {n} frames**, the bag played at "
        f"{ctx.args.rate:g}× real time (the node keeps only the newest frame: a slower model "
        "means fewer outputs, never older ones)",
        f"- machine: {machine()}",
        "",
        "## Metrics against the drive's ground truth",
        "",
        "| metric | value | required | |",
        "|---|---|---|---|",
    ]
    for key, label in (("vehicle_ap50", "vehicle AP50 (car+truck+bus+train merged, COCO 101-pt)"),
                       ("drivable_miou", "drivable mIoU (YOLOP binary protocol)"),
                       ("lane_iou", "lane IoU (lane class)")):
        lines.append(f"| {label} | {fmt(h[key])} | ≥ {THRESHOLDS[key]} | "
                     f"{'pass' if passed[key] else '**FAIL**'} |")
    lines += [
        f"| mAP50, all {n_classes} classes | {fmt(h['map50_all_classes'])} | | |",
        f"| vehicle recall@0.5 | {fmt(det.get('recall50'))} | | |",
        f"| detection AP@[.5:.95] (bdd100k protocol) | {fmt(h['bdd100k_det_ap'])} | | |",
        f"| drivable mIoU (bdd100k protocol) | {fmt(h['bdd100k_drivable_miou'])} | | |",
        "| lane pixel recall (YOLOP 'accuracy') | "
        f"{fmt((lane.get('yolop') or {}).get('pixel_recall'))} | | |",
        "| lane balanced accuracy (HybridNets 'accuracy') | "
        f"{fmt((lane.get('hybridnets') or {}).get('balanced_accuracy'))} | | |",
        f"| lane boundary F@2px (bdd100k protocol) | {fmt(h['bdd100k_lane_f_2px'])} | | |",
        f"| drivable mIoU, direct + alternative merged | "
        f"{fmt((drv.get('merged') or {}).get('miou'))} | | |",
        "",
        f"Detections are scored as the node published them (confidence ≥ {ctx.args.conf}, "
        "class-wise NMS), so AP is computed on a truncated PR curve; mtl-eval's protocol "
        "(confidence 0.001, IoU 0.6) gives somewhat higher AP. Masks are scored at the source "
        "resolution; lane ground truth is drawn 8 px wide at 1280 px (mtl-eval's width). "
        "Full numbers: `metrics.json`.",
        "",
        "## Latency",
        "",
        "| what | p50 ms | p99 ms | samples |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in latency_rows(outputs)],
        "",
        "## Stage wall times",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in ctx.timings.items()],
        "",
        "## Files",
        "",
        "- `overlay.mp4` (mp4v codec): every frame the node answered, drawn with the node's "
        "overlay",
        *[f"- `{p.name}`" for p in pngs],
        "- `metrics.json`, `drive/` (the drive in BDD100K layout), `drive_bag/` (input), "
        "`recorded_bag/` (the node's outputs), `logs/`",
        "",
        "## The same with a real BDD100K video and your own model",
        "",
        "```bash",
        "source .venv/bin/activate",
        "export FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA   # large images over Fast DDS",
        "# 1. train and export your model (BDD100K in its official layout under $BDD)",
        "mtl-train --config config/models/mobilenetv2_bifpn.yaml --data $BDD --out runs/mnv2",
        "mtl-export --weights runs/mnv2/best.pt --out my_model.onnx",
        "# 2. a BDD100K video (bdd100k/videos/val/*.mov) to a bag, with its 10th-second labels",
        "mtl-bdd2bag $BDD/videos/val/b1c66a42-6f7d68ca.mov --out drive_bag --camera-info \\",
        "    --labels $BDD/labels/det_20/det_val.json",
        "# 3. the node (terminal 1), then play the bag into it (terminal 2)",
        f"perception_node --ros-args -r __ns:={NAMESPACE} -r image:={IMAGE_TOPIC} \\",
        "    -p model_path:=$PWD/my_model.onnx",
        "mtl-play drive_bag            # or, with rosbag2 installed: ros2 bag play drive_bag",
        "# 4. or without DDS: the same pipeline offline, with metrics where labels exist",
        "mtl-offline drive_bag --model my_model.onnx --out results/ --masks --out-bag",
        "# 5. this whole demo with your model",
        "mtl-demo --out demo_out --model my_model.onnx",
        "```",
        "",
        "Exact commands of this run:",
        "",
        "```",
        f"{ctx.info.get('node_command', '')}",
        f"{ctx.info.get('play_command', '')}",
        *ctx.info["model"].get("commands", []),
        "```",
    ]
    path = ctx.out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, no GPU" \
        if not shutil.which("nvidia-smi") else f"{cpu}, {os.cpu_count()} CPUs, NVIDIA GPU"


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mtl-demo", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[3:]))
    p.add_argument("--out", type=Path, default=Path("demo_out"))
    p.add_argument("--model", type=Path, default=None, help="use this exported .onnx model")
    p.add_argument("--train", action="store_true",
                   help="train the demo model even when a committed one exists")
    p.add_argument("--cache-dir", default=os.environ.get(
        "MTL_CACHE_DIR", str(Path.home() / ".cache" / "mtl_perception")))
    p.add_argument("--frames", type=int, default=200, help="drive length (200 = 20 s at 10 Hz)")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--seed", type=int, default=2024, help="drive seed")
    p.add_argument("--rate", type=float, default=0.5,
                   help="playback speed factor (0.5: a 2-core CPU answers most frames)")
    p.add_argument("--conf", type=float, default=0.25, help="node confidence_threshold")
    p.add_argument("--node-timeout", type=float, default=60.0)
    p.add_argument("--recipe", default=None,
                   help="recipe to train with (default: the installed "
                        f"{'/'.join(DEMO_RECIPE)})")
    p.add_argument("--train-seed", type=int, default=0,
                   help="mtl-synth seed of the training images (training's own seed: recipe)")
    p.add_argument("--train-images", type=int, default=600)
    p.add_argument("--epochs-phase1", type=int, default=12)
    p.add_argument("--epochs-phase2", type=int, default=0)
    p.add_argument("--no-check", action="store_true",
                   help="report the metrics but do not fail below the required values")
    p.add_argument("--quiet", action="store_true")
    return p


def run(ctx: DemoContext) -> int:
    a = ctx.args
    with stage(ctx, "drive"):
        drive = make_drive(ctx)
    with stage(ctx, "model"):
        model = obtain_model(ctx)
        classes, drivable_classes = model_classes(model)
        ctx.log(f"model {model} ({ctx.info['model']['source']}); classes {', '.join(classes)}")
    with stage(ctx, "bag"):
        bag = make_bag(ctx, drive)
    recorder = run_node_and_play(ctx, model, bag, ros_env())
    with stage(ctx, "evaluate"):
        outputs = decode_recording(recorder, publish_times(ctx.out / "logs" / "play_times.txt"))
        metrics = evaluate(ctx, drive, bag, outputs, classes, drivable_classes)
    with stage(ctx, "render"):
        pngs = render(ctx, bag, outputs)
    from mtl_perception.evaluation.evaluator import headline

    h = headline(metrics)
    passed = {k: h[k] is not None and h[k] >= v for k, v in THRESHOLDS.items()}
    with stage(ctx, "summary"):
        summary = write_summary(ctx, metrics, outputs, pngs, passed)
    ctx.log("metrics: " + ", ".join(f"{k} {fmt(h[k])}" for k in THRESHOLDS))
    ctx.log(f"wrote {summary}, {ctx.out / 'overlay.mp4'} and {len(pngs)} PNGs")
    if not a.no_check:
        with stage(ctx, "check"):
            failed = [f"{k} {fmt(h[k])} < {THRESHOLDS[k]}" for k, ok in passed.items() if not ok]
            if failed:
                raise RuntimeError("outputs not good enough: " + "; ".join(failed))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.frames < 1 or args.fps <= 0 or args.rate <= 0:
        print("mtl-demo: --frames, --fps and --rate must be positive", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(args, args.out.resolve())
    t0 = time.perf_counter()
    try:
        rc = run(ctx)
    except StageError as exc:
        print(f"mtl-demo: stage '{exc.stage}' failed: {exc}", file=sys.stderr)
        return 1
    ctx.log(f"done in {time.perf_counter() - t0:.1f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
