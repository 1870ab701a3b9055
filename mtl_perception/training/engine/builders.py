"""The steps that build a :class:`~mtl_perception.training.engine.trainer.Trainer`, one each.

Why: constructing a run is ten separate decisions (which recipe continues, the loader, the
fitted anchors, the network, class weights, loss, optimizer, schedule, AMP, EMA, restoring
a checkpoint). Each is a function here with its inputs named, so ``Trainer.__init__`` reads
as the list of them. None of them changes the recipe it is given: a step that adds to the
recipe (the k-means anchors) returns a new one, which becomes the run's own recipe
(``recipe.yaml`` and every checkpoint hold it, so resume and export see the anchors).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mtl_perception.training.data.loaders import make_loader
from mtl_perception.training.engine import ddp as D
from mtl_perception.training.engine.checkpoint import load_checkpoint, set_rng_state
from mtl_perception.training.engine.ema import make_ema
from mtl_perception.training.engine.parts import _label_arrays, _lr_lambda, _param_groups
from mtl_perception.training.engine.resume import reconcile
from mtl_perception.training.loss.losses import effective_number_weights
from mtl_perception.training.model.anchors import anchor_recall, kmeans_anchors
from mtl_perception.training.model.network import MultiTaskNet, build_model

LOG = logging.getLogger("mtl-train")


def open_resume(resume: str | Path | dict[str, Any] | None, device: torch.device
                ) -> dict[str, Any] | None:
    """The checkpoint to continue (a path is loaded; a loaded dict is used as it is)."""
    return load_checkpoint(resume, device) if isinstance(resume, str | Path) else resume


def run_recipe(recipe: dict[str, Any], ckpt: dict[str, Any] | None, where: str,
               source_recipe: dict[str, Any] | None, is_main: bool
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the recipe this run trains, the recipe file's own values), both new dicts.

    Fresh: a copy of ``recipe``. Resuming: the checkpoint's recipe with the changes
    ``resume.reconcile`` allows (others raise ``ResumeError``).
    """
    if ckpt is None:
        return copy.deepcopy(recipe), copy.deepcopy(source_recipe or recipe)
    resolved, changes = reconcile(ckpt, recipe, where)
    if is_main:
        LOG.info("resuming %s after epoch %d (phase %d)%s", where, ckpt["epoch"],
                 ckpt["phase"], "; changed: " + ", ".join(changes) if changes else "")
    source = source_recipe or ckpt.get("source_recipe") or resolved
    return copy.deepcopy(resolved), copy.deepcopy(source)


def train_loader(data: Dataset, recipe: dict[str, Any], info: D.DistInfo, seed: int
                 ) -> tuple[DataLoader, torch.Generator]:
    """The training loader and the generator that ``train_epoch`` reseeds every epoch."""
    tcfg = recipe["train"]
    loader = make_loader(data, "train", recipe, train=True, batch_size=int(tcfg["batch_size"]),
                         workers=int(tcfg["workers"]), rank=info.rank,
                         world_size=info.world_size, seed=seed)
    gen = torch.Generator()
    loader.generator = gen
    return loader, gen


def label_statistics(recipe: dict[str, Any], data: Dataset, fresh: bool
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Box sizes and classes of the training labels, when a fresh run needs them."""
    need_cls = bool(recipe["loss"]["class_balanced"]) and fresh
    need_wh = bool(recipe["anchor_kmeans"]) and fresh
    if not (need_cls or need_wh):
        return None, None
    return _label_arrays(data, need_cls)


def with_fitted_anchors(recipe: dict[str, Any], wh: np.ndarray | None, seed: int,
                        is_main: bool) -> dict[str, Any]:
    """``recipe`` with k-means anchors from the box sizes ``wh`` (a new dict), or itself when
    no anchors are fitted (k-means off, a resumed run, or no detection task)."""
    if wh is None or not recipe["anchor_kmeans"] or "detection" not in recipe["tasks"]:
        return recipe
    anchors = kmeans_anchors(wh, seed=seed)
    out = copy.deepcopy(recipe)
    out["anchors"] = np.asarray(anchors, np.float64).round(2).tolist()
    if is_main:
        LOG.info("k-means anchors %s (recall %.3f)", out["anchors"], anchor_recall(wh, anchors))
    return out


def network(recipe: dict[str, Any], device: torch.device, seed: int
            ) -> tuple[MultiTaskNet, torch.memory_format]:
    """The model on ``device`` in the recipe's memory format, initialised from ``seed``."""
    torch.manual_seed(seed)
    model = build_model(recipe).to(device)
    fmt = torch.channels_last if bool(recipe["train"]["channels_last"]) \
        else torch.contiguous_format
    model.to(memory_format=fmt)
    return model, fmt


def class_weights(recipe: dict[str, Any], ckpt: dict[str, Any] | None,
                  classes: np.ndarray | None, num_classes: int, is_main: bool
                  ) -> np.ndarray | None:
    """Class-balanced detection weights (the checkpoint's when resuming), or None when off."""
    if not recipe["loss"]["class_balanced"]:
        return None
    if ckpt is not None:
        weights = ckpt["class_weights"].numpy()
    else:
        counts = np.bincount(classes if classes is not None else np.zeros(0, np.int64),
                             minlength=num_classes)[:num_classes]
        weights = effective_number_weights(counts, float(recipe["loss"]["class_balanced_beta"]))
    if is_main:
        LOG.info("class-balanced detection weights %s", np.round(weights, 3).tolist())
    return weights


def optimizer(model: nn.Module, tcfg: dict[str, Any]) -> torch.optim.Optimizer:
    """AdamW, or SGD with Nesterov momentum; no decay on norms, biases and fusion weights."""
    groups = _param_groups(model, float(tcfg["weight_decay"]))
    if tcfg["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=float(tcfg["lr"]), momentum=0.937, nesterov=True)
    return torch.optim.AdamW(groups, lr=float(tcfg["lr"]))


def scheduler(opt: torch.optim.Optimizer, tcfg: dict[str, Any], epochs: int,
              steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then cosine over every step of both phases."""
    warmup = int(float(tcfg["warmup_epochs"]) * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(epochs * steps_per_epoch, warmup))


def weight_average(model: nn.Module, tcfg: dict[str, Any]) -> Any:
    """The EMA of the weights, or None when ``ema_decay`` is 0."""
    decay = float(tcfg["ema_decay"])
    return make_ema(model, decay, float(tcfg["ema_tau_steps"])) if decay > 0 else None


def restore_state(ckpt: dict[str, Any], model: nn.Module, ema: Any,
                  opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LambdaLR,
                  scaler: torch.amp.GradScaler) -> tuple[int, float]:
    """Load weights, average, optimizer, schedule, scaler and RNG; (epochs done, best)."""
    model.load_state_dict(ckpt["model"])
    if ema is not None:
        if "ema" in ckpt:
            ema.module.load_state_dict(ckpt["ema"])
            ema.n_averaged.fill_(int(ckpt["ema_updates"]))
        else:  # a checkpoint without an average: start it from the resumed weights
            ema.module.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    reschedule(opt, sched)
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return int(ckpt["epoch"]), float(ckpt["best_fitness"])


def reschedule(opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LambdaLR) -> None:
    """The learning rate of the next step under this run's schedule: the same value as the
    checkpoint's for an unchanged schedule, the new cosine's for a changed one."""
    step = sched.last_epoch
    lrs = [base * lam(step) for base, lam in
           zip(sched.base_lrs, sched.lr_lambdas, strict=True)]
    for group, lr in zip(opt.param_groups, lrs, strict=True):
        group["lr"] = lr
    sched._last_lr = lrs  # type: ignore[attr-defined]
