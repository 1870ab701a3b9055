"""The demo's frame: constants, the run context, stage timing, and the first two stages.

``stage`` times a stage and turns any failure into a ``StageError`` that names it; ``drive``
renders the synthetic drive and ``bag`` writes it to a rosbag2 bag.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtl_perception.common.errors import MtlError

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


def make_drive(ctx: DemoContext) -> Path:
    from mtl_perception.synth.generate import generate_drive

    root = ctx.out / "drive"
    if root.exists():
        shutil.rmtree(root)
    a = ctx.args
    height, width = a.size
    names = generate_drive(root, a.frames, a.fps, seed=a.seed, width=width, height=height,
                           split="val", progress=not a.no_progress)
    ctx.info["drive"] = {"frames": len(names), "fps": a.fps, "size": f"{height}x{width}",
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
                       "--gt-topic", GT_TOPIC,
                       *(["--no-progress"] if ctx.args.no_progress else [])])
    if rc != 0:
        raise RuntimeError(f"mtl-bdd2bag exited with {rc}")
    return bag


