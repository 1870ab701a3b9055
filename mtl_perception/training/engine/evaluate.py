"""``mtl-eval``: metrics of a checkpoint on a dataset split, and model statistics.

    mtl-eval --weights RUN/best.pt --data DIR --split val [--out metrics.json]
    mtl-eval predictions --data DIR --split val [--masks DIR] [--detections JSON] [--offline DIR]
    mtl-eval stats --config config/models/mobilenetv2_bifpn.yaml --resolution 384x640 --json -
    mtl-eval stats --config config/models/*.yaml --resolution 384x640     (one row each)

Detections go through the same ``MultiTaskNet.decode`` as export, then class-wise NMS at
confidence 0.001 / IoU 0.6 (the yolop protocol's thresholds); every metric is computed by
:mod:`mtl_perception.evaluation` (docs/training.md lists the protocols). A checkpoint is scored
on letterboxed network-size frames; the exact bdd100k numbers (source pixels) come from
``mtl-eval predictions`` on ``mtl-offline``'s output.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.ops import batched_nms

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_limit,
    add_out,
    add_progress,
    add_size,
    positive_int,
    write_json,
)
from mtl_perception.evaluation.detection import (
    YOLOP_CONF,
    YOLOP_MAX_DETECTIONS,
    YOLOP_NMS_IOU,
)
from mtl_perception.evaluation.evaluator import Evaluator, headline
from mtl_perception.training.config.recipe import load_recipe, with_input_size
from mtl_perception.training.model.network import MultiTaskNet, build_model, preprocess

LOG = logging.getLogger("mtl-eval")


def nms_per_image(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    conf: float,
    iou: float,
    max_det: int,
    max_candidates: int = 30000,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multi-label class-wise NMS for one image: [A, 4], [A, C] -> boxes, scores, classes."""
    idx, cls = (scores > conf).nonzero(as_tuple=True)
    s = scores[idx, cls]
    if s.numel() > max_candidates:
        top = s.topk(max_candidates).indices
        idx, cls, s = idx[top], cls[top], s[top]
    b = boxes[idx]
    keep = batched_nms(b.float(), s.float(), cls, iou)[:max_det]
    return b[keep], s[keep], cls[keep]


def _as_numpy(x: Any) -> np.ndarray:
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@torch.no_grad()
def evaluate_model(
    model: MultiTaskNet,
    batches: Iterable[dict[str, Any]],
    device: torch.device | str = "cpu",
    conf: float = YOLOP_CONF,
    iou: float = YOLOP_NMS_IOU,
    max_det: int = YOLOP_MAX_DETECTIONS,
    progress: bool = False,
) -> dict[str, Any]:
    """Run ``model`` over collated batches and compute every task's metrics."""
    was_training = model.training
    model.eval()
    ev = Evaluator(list(model.class_names), len(model.drivable_classes))
    n_images = 0
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="eval", unit="batch", dynamic_ncols=True)
    for batch in batches:
        images = torch.as_tensor(batch["image"]).to(device)
        out = model(preprocess(images))
        n_images += images.shape[0]
        if "det" in out:
            boxes, scores = model.decode(out["det"])
            has_det = batch.get("has_det")
            for i in range(images.shape[0]):
                if has_det is not None and not bool(has_det[i]):
                    continue  # unlabelled for detection: neither TP nor FP can be judged
                b, s, c = nms_per_image(boxes[i], scores[i], conf, iou, max_det)
                crowd = batch.get("crowd")
                ev.add_ids(
                    _as_numpy(batch["boxes"][i]), _as_numpy(batch["classes"][i]),
                    _as_numpy(b), _as_numpy(s), _as_numpy(c),
                    _as_numpy(crowd[i]) if crowd is not None else None,
                )
        gt_drivable = _as_numpy(batch.get("drivable_bdd", batch["drivable"]))
        if "drivable" in out:
            pred = _as_numpy(out["drivable"].argmax(1))
            for i in range(images.shape[0]):
                ev.add_drivable(pred[i], gt_drivable[i])
        if "lane" in out:
            pred, gt = _as_numpy(out["lane"].argmax(1)), _as_numpy(batch["lane"])
            for i in range(images.shape[0]):
                ev.add_lane(pred[i], gt[i])
    model.train(was_training)
    result = ev.result({"conf_threshold": conf, "nms_iou": iou, "max_detections": max_det,
                        "source": "mtl-eval (checkpoint, letterboxed network-size frames)"})
    result["n_images"] = n_images
    return result


def fitness(metrics: dict[str, Any]) -> float:
    """One number to pick the best checkpoint: mean of vehicle (or all-class) mAP50,
    drivable binary mIoU and lane IoU, over the tasks the model has."""
    h = headline(metrics)
    parts = []
    if metrics.get("detection"):
        parts.append(h["vehicle_ap50"] or 0.0)
    if metrics.get("drivable"):
        parts.append(h["drivable_miou"] or 0.0)
    if metrics.get("lane"):
        parts.append(h["lane_iou"] or 0.0)
    return float(np.mean(parts)) if parts else 0.0


def flat_summary(metrics: dict[str, Any]) -> dict[str, float]:
    """The headline numbers, flat, for logs and CSV columns."""
    out: dict[str, float] = {}
    det = (metrics.get("detection") or {}).get("yolop")
    if det:
        out["val_map50"] = det["classes"].get("map50") or 0.0
        out["val_map50_95"] = det["classes"].get("map50_95") or 0.0
        if det.get("vehicle"):
            out["val_vehicle_map50"] = det["vehicle"].get("map50") or 0.0
            out["val_vehicle_recall50"] = det["vehicle"].get("recall50") or 0.0
        out["val_bdd100k_ap"] = metrics["detection"]["bdd100k"].get("AP") or 0.0
    if metrics.get("drivable"):
        out["val_drivable_miou_yolop"] = metrics["drivable"]["yolop"].get("miou") or 0.0
    if metrics.get("lane"):
        out["val_lane_iou"] = metrics["lane"]["yolop"].get("iou") or 0.0
    return out


def model_stats(recipe: dict[str, Any], resolution: tuple[int, int]) -> dict[str, Any]:
    """Parameter count, FLOPs (torch.utils.flop_counter) and fp32 size at a resolution."""
    from torch.utils.flop_counter import FlopCounterMode

    recipe = with_input_size(recipe, resolution)
    recipe["backbone"] = {**recipe["backbone"], "pretrained": False}
    model = build_model(recipe).eval()
    params = sum(p.numel() for p in model.parameters())
    x = torch.zeros(1, 3, *resolution)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    flops = int(counter.get_total_flops())
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return {
        "recipe": recipe["name"],
        "resolution": [int(resolution[0]), int(resolution[1])],
        "params": int(params),
        "params_m": round(params / 1e6, 3),
        "flops": flops,
        "gflops": round(flops / 1e9, 2),
        "macs": flops // 2,
        "gmacs": round(flops / 2e9, 2),
        "flops_convention": (
            "FLOPs = 2 x multiply-adds, counted by torch.utils.flop_counter over convolutions "
            "and matmuls for one image (batch 1); 'macs' = flops / 2"
        ),
        "size_mb": round(len(buf.getvalue()) / 1e6, 2),
        "size_convention": "fp32 state_dict as saved by torch.save, 1 MB = 1e6 bytes",
    }


def stats_main(args: argparse.Namespace) -> int:
    """``mtl-eval stats``: parameters, FLOPs and size of one recipe's model, or of several side
    by side (one row each, FLOPs also as a ratio to the first)."""
    logging.disable(logging.WARNING)  # the random-init notice is noise here
    rows = []
    for path in args.config:
        recipe = load_recipe(path)
        rows.append(model_stats(recipe, args.resolution or tuple(recipe["input_size"])))
    numbers: Any = rows[0] if len(rows) == 1 else rows
    if args.json == "-":  # one line: callers (mtl-bench) read stdout's last line
        print(json.dumps(numbers))
    elif args.json is not None:
        write_json(args.json, numbers)
    if args.json == "-":
        return 0
    if len(rows) == 1:
        for k, v in rows[0].items():
            print(f"{k:>18}: {v}")
        return 0
    print(f"{'recipe':<28} {'input':>9} {'params':>9} {'GFLOPs':>8} {'vs first':>8} "
          f"{'size':>8}")
    for r in rows:
        print(f"{r['recipe']:<28} {r['resolution'][0]}x{r['resolution'][1]:<5} "
              f"{r['params_m']:>7.2f} M {r['gflops']:>8.2f} {r['flops'] / rows[0]['flops']:>7.2f}x "
              f"{r['size_mb']:>5.1f} MB")
    print(rows[0]["flops_convention"])
    return 0


def eval_main(args: argparse.Namespace) -> int:
    """``mtl-eval [checkpoint]``: a checkpoint's metrics on a split (JSON + PR curves)."""
    from mtl_perception.training.data.loaders import make_loader
    from mtl_perception.training.engine.devices import describe, resolve_device
    from mtl_perception.training.engine.plots import plot_pr_curves
    from mtl_perception.training.model.network import model_from_checkpoint

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = resolve_device(args.device)
    logging.getLogger("mtl-eval").info("device %s", describe(device, amp=False))
    model, ckpt = model_from_checkpoint(args.weights, device)
    loader = make_loader(
        args.data, args.split, model.recipe, train=False, batch_size=args.batch_size,
        workers=args.workers, limit=args.limit,
    )
    metrics = evaluate_model(model, loader, device, args.conf, args.iou,
                             progress=not args.no_progress)
    metrics.update(weights=str(args.weights), data=str(args.data), split=args.split,
                   recipe=model.recipe_name, epoch=ckpt.get("epoch"))
    out = Path(args.out) if args.out else Path(args.weights).with_name(
        f"eval_{args.split}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    det = (metrics.get("detection") or {}).get("yolop") or {}
    curves = {"all classes": (det.get("classes") or {}).get("pr_curve")}
    if det.get("vehicle"):
        curves["vehicle"] = det["vehicle"].get("pr_curve")
    plot_pr_curves(curves, out.with_suffix(".pr.png"))
    out.write_text(json.dumps(metrics, indent=2))
    print(json.dumps({"json": str(out), "pr_png": str(out.with_suffix(".pr.png")),
                      "fitness": fitness(metrics), **flat_summary(metrics)}))
    return 0


def predictions_main(args: argparse.Namespace) -> int:
    from mtl_perception.evaluation.score import run

    return run(args)


def _checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, help="checkpoint (.pt) from mtl-train")
    p.add_argument("--data", required=True, help="dataset root in BDD100K layout")
    p.add_argument("--split", default="val")
    add_out(p, help="metrics JSON (default: eval_SPLIT.json next to the weights)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda if usable, else cpu)")
    p.add_argument("--conf", type=float, default=YOLOP_CONF)
    p.add_argument("--iou", type=float, default=YOLOP_NMS_IOU)
    add_limit(p, "images")
    add_progress(p)


COMMANDS = ("checkpoint", "predictions", "stats")


def build_parser() -> argparse.ArgumentParser:
    """``mtl-eval {checkpoint,predictions,stats}``; ``checkpoint`` is the default."""
    from mtl_perception.evaluation.score import PARSER_TEXT, add_arguments

    p = ArgumentParser(prog="mtl-eval", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="without a command, mtl-eval runs 'checkpoint'")
    sub = p.add_subparsers(dest="command", metavar="{checkpoint,predictions,stats}")
    ck = sub.add_parser("checkpoint", help="a checkpoint's metrics on a split (the default)")
    _checkpoint_args(ck)
    ck.set_defaults(run=eval_main)
    pr = sub.add_parser("predictions", help="score saved predictions (mtl-offline's output)",
                        **PARSER_TEXT)
    add_arguments(pr)
    pr.set_defaults(run=predictions_main)
    st = sub.add_parser("stats", help="parameters, FLOPs and size of recipes' models")
    st.add_argument("--config", required=True, nargs="+", metavar="RECIPE",
                    help="recipe YAML; several give one row each (--json: a list)")
    add_size(st, "--resolution", help="network input (default: the recipe's input_size)")
    st.add_argument("--json", default=None, metavar="PATH",
                    help="write the statistics as JSON to PATH ('-': one line on standard "
                         "output, instead of the table)")
    st.set_defaults(run=stats_main)
    return p


def main(argv: list[str] | None = None) -> int:
    """``mtl-eval [checkpoint] ...`` (the default), ``mtl-eval predictions ...``, ``stats``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "checkpoint")  # ``mtl-eval --weights ...`` = ``mtl-eval checkpoint ...``
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    from mtl_perception.common.cli_args import run_cli

    sys.exit(run_cli("mtl-eval", main))
