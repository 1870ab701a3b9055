"""``mtl-train``: the paper's two-phase schedule with resumable, atomic checkpoints.

    mtl-train --config config/models/mobilenetv2_bifpn.yaml --data DATA --out runs/mnv2
    torchrun --nproc_per_node=2 $(which mtl-train) --config ... --data ...   # DDP

Phase 1 trains all tasks; phase 2 freezes the segmentation heads (parameters and BatchNorm
statistics) and trains detection alone. ``last.pt`` is written after every epoch and
``best.pt`` whenever validation improves; ``--resume`` continues exactly where it stopped.
"""

from __future__ import annotations

import csv
import logging
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from mtl_perception.common.errors import MtlError
from mtl_perception.training.data.loaders import make_loader
from mtl_perception.training.engine import builders as B
from mtl_perception.training.engine import ddp as D
from mtl_perception.training.engine.checkpoint import rng_state, save_atomic
from mtl_perception.training.engine.devices import describe
from mtl_perception.training.engine.evaluate import evaluate_model, fitness, flat_summary
from mtl_perception.training.engine.parts import _unwrap, freeze_seg_heads, load_init_weights
from mtl_perception.training.engine.rundir import write_run_recipe
from mtl_perception.training.loss.losses import MultiTaskLoss
from mtl_perception.training.model.network import MultiTaskNet, preprocess

LOG = logging.getLogger("mtl-train")
CSV_FIELDS = [
    "epoch", "phase", "lr", "time_s",
    "loss_total", "loss_box", "loss_obj", "loss_cls", "loss_drivable", "loss_lane",
    "val_fitness", "val_map50", "val_map50_95", "val_vehicle_map50", "val_vehicle_recall50",
    "val_bdd100k_ap", "val_drivable_miou_yolop", "val_lane_iou",
]


class NonFiniteLossError(MtlError, RuntimeError):
    """A loss term became NaN or infinite: the run stops (one line) before that step."""


class Trainer:
    """Owns model, loss, optimizer, scheduler and scaler for one run (one rank under DDP)."""

    def __init__(
        self,
        recipe: dict[str, Any],
        train_data: Dataset,
        val_data: Dataset | None,
        out_dir: str | Path,
        info: D.DistInfo | None = None,
        progress: bool = True,
        resume: str | Path | dict[str, Any] | None = None,
        init_weights: str | Path | None = None,
        source_recipe: dict[str, Any] | None = None,
    ) -> None:
        """``recipe`` is what this run asks for; with ``resume`` (a checkpoint path or the
        loaded dict) the checkpoint's recipe continues, with the changes ``resume.reconcile``
        allows applied (others raise ``ResumeError``). ``source_recipe`` is the recipe
        file's own values, kept in checkpoints so a later resume can tell what changed."""
        self.info = info or D.DistInfo(0, 1, 0, torch.device("cpu"))
        self.out = Path(out_dir)
        self.progress = progress and self.info.is_main
        is_main, dev = self.info.is_main, self.info.device
        ckpt = B.open_resume(resume, dev)
        where = str(resume) if isinstance(resume, str | Path) else "checkpoint"
        # The run's own recipe: a copy, so the caller's dict is never changed.
        run, self.source_recipe = B.run_recipe(recipe, ckpt, where, source_recipe, is_main)
        tcfg = run["train"]
        self.seed = int(tcfg["seed"])
        self.e1, self.e2 = int(tcfg["epochs_phase1"]), int(tcfg["epochs_phase2"])
        self.val_every = int(tcfg["val_every"])
        self.train_data, self.val_data = train_data, val_data
        self.loader, self.loader_gen = B.train_loader(train_data, run, self.info, self.seed)
        wh, cls = B.label_statistics(run, train_data, fresh=ckpt is None)
        self.recipe = run = B.with_fitted_anchors(run, wh, self.seed, is_main)
        self.model, self.memory_format = B.network(run, dev, self.seed)
        self.class_weights = B.class_weights(run, ckpt, cls, self.model.num_classes, is_main)
        self.criterion = MultiTaskLoss(run, self.model.anchors, self.model.strides,
                                       self.model.num_classes, self.class_weights).to(dev)
        self.optimizer = B.optimizer(self.model, tcfg)
        self.scheduler = B.scheduler(self.optimizer, tcfg, self.e1 + self.e2, len(self.loader))
        self.use_amp = bool(tcfg["amp"]) and dev.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        if is_main:
            LOG.info("device %s", describe(dev, self.use_amp))
        self.start_epoch, self.best = 0, -1.0
        if ckpt is None and init_weights is not None:
            load_init_weights(self.model, init_weights, is_main)
        self.ema = B.weight_average(self.model, tcfg)
        if ckpt is not None:
            self.start_epoch, self.best = B.restore_state(
                ckpt, self.model, self.ema, self.optimizer, self.scheduler, self.scaler)
        self.epoch = self.start_epoch_done = self.start_epoch
        self.ddp: nn.Module = self.model
        self.phase = 0

    # -- phases ------------------------------------------------------------------------
    def phase_of(self, epoch: int) -> int:
        return 1 if epoch < self.e1 else 2

    def _enter_phase(self, phase: int) -> None:
        """(Re)wrap for DDP after changing which parameters train."""
        self.phase = phase
        if phase == 2:
            freeze_seg_heads(self.model)
        if self.info.enabled:
            has_det = self.model.det_head is not None
            self.ddp = DistributedDataParallel(
                self.model,
                device_ids=[self.info.device.index] if self.info.device.type == "cuda" else None,
                find_unused_parameters=not has_det,
            )
        else:
            self.ddp = self.model

    def _set_train_mode(self) -> None:
        self.model.train()
        if self.phase == 2:
            for m in self.model.seg_modules():
                m.eval()

    # -- one step / epoch --------------------------------------------------------------
    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        dev = self.info.device
        images = torch.as_tensor(batch["image"]).to(dev, non_blocking=True)
        target = {
            "boxes": [torch.as_tensor(b, dtype=torch.float32).to(dev) for b in batch["boxes"]],
            "classes": [torch.as_tensor(c).long().to(dev) for c in batch["classes"]],
            "drivable": torch.as_tensor(batch["drivable"]).to(dev),
            "lane": torch.as_tensor(batch["lane"]).to(dev),
        }
        if "has_det" in batch:
            target["has_det"] = torch.as_tensor(batch["has_det"]).bool().to(dev)
        with_seg = self.phase == 1
        with torch.autocast(dev.type, dtype=torch.float16, enabled=self.use_amp):
            x = preprocess(images).contiguous(memory_format=self.memory_format)
            out = self.ddp(x, with_seg=with_seg)
        loss, logs = self.criterion(out, target, seg_enabled=with_seg)
        if not math.isfinite(logs["total"]):
            self._stop_non_finite(logs)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        clip = float(self.recipe["train"]["grad_clip"])
        if clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.requires_grad], clip
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return logs

    def _stop_non_finite(self, logs: dict[str, float]) -> None:
        """Stop before the optimizer step, so no checkpoint ever holds the bad update."""
        bad = [k for k, v in logs.items() if k != "total" and not math.isfinite(v)] or ["total"]
        last = self.out / "last.pt"
        kept = f"{last} keeps epoch {self.start_epoch_done}" if last.exists() else \
            "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"step {self.scheduler.last_epoch + 1} (epoch {self.epoch + 1}): loss term "
            f"{', '.join('loss_' + k for k in bad)} is {logs[bad[0]]}; stopped ({kept})")

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.epoch = epoch
        self._set_train_mode()
        self.loader.sampler.set_epoch(epoch)  # type: ignore[union-attr]
        base, _ = _unwrap(self.train_data)
        if hasattr(base, "set_epoch"):
            base.set_epoch(epoch)  # augmentation varies per epoch, reproducibly
        self.loader_gen.manual_seed(self.seed * 100003 + epoch)
        sums: dict[str, float] = defaultdict(float)
        n = 0
        it = self.loader
        bar = None
        if self.progress:
            from tqdm import tqdm

            total = self.e1 + self.e2
            bar = tqdm(self.loader, desc=f"epoch {epoch + 1}/{total} phase {self.phase}",
                       unit="batch", dynamic_ncols=True, leave=False)
            it = bar
        for batch in it:
            logs = self.train_step(batch)
            for k, v in logs.items():
                sums[k] += v
            n += 1
            if bar is not None:
                bar.set_postfix({k: f"{v / n:.3f}" for k, v in sums.items()}, refresh=False)
        if bar is not None:
            bar.close()
        means = {f"loss_{k}": v / max(n, 1) for k, v in sums.items()}
        return D.all_reduce_mean(means, self.info)

    # -- checkpoints ------------------------------------------------------------------
    @property
    def eval_model(self) -> MultiTaskNet:
        """The weights that are validated and exported: the average when EMA is on."""
        return cast(MultiTaskNet, self.ema.module) if self.ema is not None else self.model

    def checkpoint(self, epoch: int) -> dict[str, Any]:
        ckpt = {
            "model": self.model.state_dict(),  # the raw weights: what --resume continues
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "phase": self.phase_of(epoch) if epoch < self.e1 + self.e2 else 2,
            "best_fitness": self.best,
            "recipe": self.recipe,
            "source_recipe": self.source_recipe,
            "class_names": list(self.model.class_names),
            "drivable_classes": list(self.model.drivable_classes),
            "lane_classes": list(self.model.lane_classes),
            "rng": rng_state(),
            "torch_version": str(torch.__version__),
        }
        if self.class_weights is not None:
            ckpt["class_weights"] = torch.as_tensor(self.class_weights)
        if self.ema is not None:  # evaluation, export and --init-weights read these
            ckpt["ema"] = self.ema.module.state_dict()
            ckpt["ema_updates"] = int(self.ema.n_averaged)
        return ckpt

    def validate(self) -> dict[str, Any] | None:
        if self.val_data is None:
            return None
        loader = make_loader(self.val_data, "val", self.recipe, train=False,
                             batch_size=int(self.recipe["train"]["batch_size"]),
                             workers=int(self.recipe["train"]["workers"]))
        ecfg = self.recipe["eval"]
        return evaluate_model(self.eval_model, loader, self.info.device,
                              float(ecfg["conf_threshold"]), float(ecfg["iou_threshold"]),
                              int(ecfg["max_detections"]))

    def _log_csv(self, row: dict[str, Any], epoch: int) -> None:
        path = self.out / "log.csv"
        rows = []
        if path.exists():
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) < epoch]
        rows.append({k: row.get(k, "") for k in CSV_FIELDS})
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            w.writeheader()
            w.writerows(rows)
        tmp.replace(path)
        try:
            from mtl_perception.training.engine.plots import plot_log

            plot_log(path, self.out / "curves.png")
        except Exception as exc:  # a plot must never kill a long run
            LOG.warning("could not plot curves: %s", exc)

    def fit(self, max_epochs: int | None = None, max_minutes: float | None = None
            ) -> dict[str, Any]:
        """Train from ``start_epoch`` to the end of phase 2 (or ``max_epochs`` total, or the
        first epoch end past ``max_minutes``; ``--resume`` continues from there)."""
        total = self.e1 + self.e2
        t_start = time.time()
        stop = total if max_epochs is None else min(total, max_epochs)
        if self.info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_run_recipe(self.out, self.recipe)
            LOG.info("seed %d; resolved recipe in %s", self.seed, self.out / "recipe.yaml")
        last_metrics: dict[str, Any] | None = None
        for epoch in range(self.start_epoch, stop):
            phase = self.phase_of(epoch)
            if phase != self.phase:
                self._enter_phase(phase)
                if self.info.is_main and phase == 2:
                    LOG.info("phase 2: segmentation heads frozen, training detection only")
            t0 = time.time()
            row: dict[str, Any] = {"epoch": epoch + 1, "phase": phase,
                                   "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self.train_epoch(epoch))
            done = epoch + 1
            # The last epoch always validates (also with val_every 0), so best.pt exists.
            validate = done == total or (self.val_every > 0 and done % self.val_every == 0)
            if validate and self.info.is_main:
                last_metrics = self.validate()
                if last_metrics is not None:
                    fit = fitness(last_metrics)
                    row.update(flat_summary(last_metrics), val_fitness=fit)
                    if fit > self.best:
                        self.best = fit
                        save_atomic(self.checkpoint(done), self.out / "best.pt")
            row["time_s"] = round(time.time() - t0, 2)
            if self.info.is_main:
                save_atomic(self.checkpoint(done), self.out / "last.pt")
                self.start_epoch_done = done
                self._log_csv(row, done)
                LOG.info("epoch %d/%d %s", done, total, " ".join(
                    f"{k}={v:.3g}" if k == "lr" else f"{k}={v:.4f}"
                    for k, v in row.items() if isinstance(v, float)
                ))
            D.barrier(self.info)
            over = max_minutes is not None and time.time() - t_start > 60 * max_minutes
            if D.agree(over, self.info):
                if self.info.is_main and done < stop:
                    LOG.info("time budget of %.1f min used after epoch %d; stopping", max_minutes,
                             done)
                break
        return {"best_fitness": self.best, "metrics": last_metrics, "out": str(self.out)}


def main(argv: list[str] | None = None) -> int:
    """``mtl-train`` (command line in ``train_cli``)."""
    from mtl_perception.training.engine.cli import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
