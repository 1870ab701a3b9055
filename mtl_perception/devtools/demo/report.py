"""demo_out/summary.md: metrics against the thresholds, latency, stage times, commands."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from mtl_perception.devtools.demo.evaluation import NodeOutputs, latency_rows
from mtl_perception.devtools.demo.stages import IMAGE_TOPIC, NAMESPACE, THRESHOLDS, DemoContext


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


