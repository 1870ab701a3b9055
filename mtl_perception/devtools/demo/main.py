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

Shared options (every mtl-* command): sizes are HxW, height first (--size 720x1280); --out
PATH is where results go; --no-progress turns progress bars off. Exit status: 0 done, 1 a
stage failed (one line naming it), 2 bad argument (one line), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_out,
    add_progress,
    add_size,
    positive_float,
    positive_int,
    run_cli,
)
from mtl_perception.devtools.demo.evaluation import (
    decode_recording,
    evaluate,
    publish_times,
    render,
)
from mtl_perception.devtools.demo.model import model_classes, obtain_model
from mtl_perception.devtools.demo.processes import ros_env, run_node_and_play
from mtl_perception.devtools.demo.report import fmt, write_summary
from mtl_perception.devtools.demo.stages import (
    DEMO_RECIPE,
    THRESHOLDS,
    DemoContext,
    StageError,
    make_bag,
    make_drive,
    stage,
)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-demo", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[3:]))
    add_out(p, default="demo_out", help="where the run's files go (default %(default)s)")
    p.add_argument("--model", type=Path, default=None, help="use this exported .onnx model")
    p.add_argument("--train", action="store_true",
                   help="train the demo model even when a committed one exists")
    p.add_argument("--cache-dir", default=os.environ.get(
        "MTL_CACHE_DIR", str(Path.home() / ".cache" / "mtl_perception")))
    p.add_argument("--frames", type=positive_int, default=200,
                   help="drive length (200 = 20 s at 10 Hz)")
    p.add_argument("--fps", type=positive_float, default=10.0)
    add_size(p, "--size", default=(720, 1280), help="camera frame size of the drive")
    p.add_argument("--seed", type=int, default=2024, help="drive seed")
    p.add_argument("--rate", type=positive_float, default=0.5,
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
    add_progress(p)
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
    sys.exit(run_cli("mtl-demo", main))
