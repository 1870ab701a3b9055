"""``mtl-train``'s command line: arguments, resume resolution, one-line errors."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import torch

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_limit,
    add_out,
    add_progress,
    add_size,
)
from mtl_perception.common.errors import UsageError
from mtl_perception.training.config.recipe import TASKS, RecipeError, load_recipe
from mtl_perception.training.data.loaders import DataError, open_dataset
from mtl_perception.training.data.report import report_data
from mtl_perception.training.engine import ddp as D
from mtl_perception.training.engine.checkpoint import load_checkpoint
from mtl_perception.training.engine.resume import apply_flags, asked_recipe, reconcile
from mtl_perception.training.engine.rundir import prepare_run_dir
from mtl_perception.training.engine.trainer import Trainer
from mtl_perception.training.engine.trainer import __doc__ as doc

LOG = logging.getLogger("mtl-train")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="mtl-train", description=(doc or "").splitlines()[0])
    p.add_argument("--config", required=True, help="recipe YAML (config/models/*.yaml)")
    p.add_argument("--data", required=True, help="dataset root in BDD100K layout")
    add_out(p, help="run directory (default: runs/<recipe name>)")
    p.add_argument("--epochs-phase1", type=int, default=None, help="all tasks (default: recipe)")
    p.add_argument("--epochs-phase2", type=int, default=None, help="detection only")
    p.add_argument("--resume", default=None,
                   help="checkpoint to continue from, or 'auto' for RUN_DIR/last.pt")
    p.add_argument("--init-weights", default=None,
                   help="checkpoint whose matching weights start this run (fine-tuning; "
                        "a fresh schedule, unlike --resume)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--workers", type=int, default=None)
    add_size(p, help="network input (default: the recipe's; anchors scale with it)")
    p.add_argument("--val-every", type=int, default=None, help="epochs; 0 = never")
    # Two limits, one per split (a quick run trains on a few images and validates on a few).
    add_limit(p, "training images", flag="--limit-train")
    add_limit(p, "validation images", flag="--limit-val")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda if usable, else cpu); a GPU asked "
                        "for and not usable stops the run")
    p.add_argument("--no-pretrained", action="store_true", help="skip ImageNet weights")
    p.add_argument("--classes", default=None,
                   help="comma-separated class list replacing the recipe's; 'vehicle' merges "
                        "car, truck, bus and train (the peers' one-class protocol)")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: recipe)")
    p.add_argument("--overwrite", action="store_true",
                   help="let a fresh run replace another run's files in --out")
    add_progress(p)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after the first epoch that ends past this wall-clock budget")
    p.add_argument("--ema-decay", type=float, default=None,
                   help="moving average of the weights, e.g. 0.999 (0 = off; default: recipe)")
    p.add_argument("--ema-tau-steps", type=float, default=None,
                   help="steps over which the EMA decay ramps up (default: recipe)")
    return p


def cli_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe values given on the command line, as dotted keys."""
    flags: dict[str, Any] = {}
    for key in ("epochs_phase1", "epochs_phase2", "batch_size", "lr", "workers", "val_every",
                "ema_decay", "ema_tau_steps", "seed"):
        if getattr(args, key) is not None:
            flags[f"train.{key}"] = getattr(args, key)
    if args.no_pretrained:
        flags["backbone.pretrained"] = False
    if args.classes is not None:
        flags["classes"] = [c.strip() for c in args.classes.split(",") if c.strip()]
    if args.input_size is not None:
        flags["input_size"] = list(args.input_size)
    return flags


def _apply_overrides(recipe: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    return apply_flags(recipe, cli_flags(args))


def _resume_path(args: argparse.Namespace, out: Path) -> Path | None:
    if args.resume != "auto":
        return Path(args.resume) if args.resume else None
    last = out / "last.pt"
    if last.exists():
        LOG.info("--resume auto: found %s", last)
        return last
    LOG.info("--resume auto: no %s; starting a fresh run", last)
    return None


def _open_val(args: argparse.Namespace, recipe: dict[str, Any]) -> Any:
    """The validation split; with val_every 0 it is optional (then no best.pt)."""
    try:
        return open_dataset(args.data, args.val_split, recipe, train=False)
    except DataError as exc:
        if int(recipe["train"]["val_every"]) > 0:
            raise
        LOG.warning("no validation split (%s): the run writes no best.pt", exc)
        return None


def _train(args: argparse.Namespace, info: D.DistInfo) -> tuple[dict[str, Any], Path]:
    file_recipe = load_recipe(args.config)
    flags = cli_flags(args)
    try:
        recipe = apply_flags(file_recipe, flags)
    except RecipeError as exc:  # a bad --lr, --input-size, ...: the command line's fault
        raise UsageError(str(exc)) from exc
    out = Path(args.out or Path("runs") / recipe["name"])
    resume = _resume_path(args, out)
    ckpt = None
    if resume is not None:
        ckpt = load_checkpoint(resume, info.device)
        recipe, _ = reconcile(ckpt, asked_recipe(ckpt, file_recipe, flags), str(resume))
    if info.is_main and set(recipe["tasks"]) != set(TASKS):
        LOG.warning("the recipe trains only %s: a single-task model for mtl-eval and the "
                    "multi-task vs single-task benchmark; mtl-export refuses it (the node's "
                    "model has all three tasks)", ", ".join(recipe["tasks"]))
    if info.is_main:
        prepare_run_dir(out, resuming=ckpt is not None, overwrite=args.overwrite)
    train_ds = open_dataset(args.data, args.train_split, recipe, train=True)
    val_ds = _open_val(args, recipe)
    report = report_data(args.data, [train_ds] + ([val_ds] if val_ds is not None else []),
                         list(recipe["tasks"]), out if info.is_main else None)
    if report and info.is_main:
        LOG.info("%s", report)
    if args.limit_train:
        train_ds = torch.utils.data.Subset(train_ds, range(min(args.limit_train, len(train_ds))))
    if val_ds is not None and args.limit_val:
        val_ds = torch.utils.data.Subset(val_ds, range(min(args.limit_val, len(val_ds))))
    trainer = Trainer(recipe, train_ds, val_ds, out, info, progress=not args.no_progress,
                      resume=ckpt, init_weights=args.init_weights, source_recipe=file_recipe)
    if ckpt is not None and trainer.start_epoch >= trainer.e1 + trainer.e2:
        LOG.info("%s already finished all %d epochs; nothing to train (raise "
                 "--epochs-phase2 to train longer)", resume, trainer.e1 + trainer.e2)
    return trainer.fit(max_minutes=args.max_minutes), out


def run(argv: list[str] | None = None) -> int:
    """Train; a ``MtlError`` (bad recipe, data, checkpoint, resume, device, non-finite loss)
    propagates to ``run_cli``, which prints it as one line and exits 1 (2 for usage)."""
    args = build_parser().parse_args(argv)
    info = D.setup(args.device)
    logging.basicConfig(
        level=logging.INFO if info.is_main else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result, out = _train(args, info)
    except KeyboardInterrupt:
        LOG.warning("interrupted: continue the run with --resume auto")
        raise
    finally:
        D.cleanup()
    if info.is_main:
        LOG.info("done: best fitness %.4f, checkpoints in %s", result["best_fitness"], out)
    return 0
