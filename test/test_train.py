"""Trainer behaviour: exact resume, phase-2 freezing, 2-process gloo DDP, CLI errors."""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from mtl_perception.common.cli_args import run_cli
from mtl_perception.training.config.recipe import (
    RecipeError,
    load_recipe,
    normalize_recipe,
    with_input_size,
)
from mtl_perception.training.data.loaders import collate_samples
from mtl_perception.training.engine import ddp as D
from mtl_perception.training.engine.checkpoint import CheckpointError, load_checkpoint
from mtl_perception.training.engine.cli import _apply_overrides, build_parser
from mtl_perception.training.engine.trainer import Trainer
from mtl_perception.training.engine.trainer import main as train_main

HW = (64, 96)


def main(argv: list[str]) -> int:
    """``mtl-train ARGV`` as the console script runs it (exit status, one-line errors)."""
    return run_cli("mtl-train", train_main, argv)


def tiny_samples(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Random-texture images with one box, a road trapezoid and a lane stripe."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = rng.integers(0, 255, (*HW, 3), dtype=np.uint8)
        x0, y0 = int(rng.integers(0, 50)), int(rng.integers(0, 30))
        img[y0 : y0 + 20, x0 : x0 + 30] = (200, 30, 30)
        drivable = np.zeros(HW, np.uint8)
        drivable[40:, 20:70] = 1
        drivable[40:, 70:] = 2
        lane = np.zeros(HW, np.uint8)
        lane[40:, 44:47] = 1
        out.append({"image": img, "boxes": np.array([[x0, y0, x0 + 30, y0 + 20]], np.float32),
                    "classes": np.array([i % 2], np.int64), "drivable": drivable, "lane": lane,
                    "name": f"img{i}.jpg"})
    return out


def tiny_recipe(e1: int, e2: int, **train: Any) -> dict[str, Any]:
    return normalize_recipe({
        "name": "tiny",
        "backbone": {"name": "mobilenetv2", "pretrained": False},
        "input_size": list(HW),
        "classes": ["vehicle", "pedestrian"],
        "neck": {"channels": 32, "repeats": 1},
        "seg_head": {"channels": 16, "low_level_channels": 8},
        "train": {"epochs_phase1": e1, "epochs_phase2": e2, "batch_size": 2, "workers": 0,
                  "val_every": 0, "warmup_epochs": 0.5, **train},
    })


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_equals_uninterrupted_run(tmp_path: Path, ema_decay: float) -> None:
    data = tiny_samples(4)
    recipe = tiny_recipe(1, 1, ema_decay=ema_decay, ema_tau_steps=2.0)
    full = Trainer(recipe, data, None, tmp_path / "full", progress=False)
    full.fit()
    part = Trainer(recipe, data, None, tmp_path / "part", progress=False)
    part.fit(max_epochs=1)  # stop after phase 1, as if killed
    ckpt = load_checkpoint(tmp_path / "part" / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["phase"] == 2 and ckpt["class_names"][0] == "vehicle"
    assert ("ema" in ckpt) == (ema_decay > 0)
    resumed = Trainer(recipe, data, None, tmp_path / "part", progress=False,
                      resume=tmp_path / "part" / "last.pt")
    assert resumed.start_epoch == 1
    resumed.fit()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    if ema_decay > 0:
        assert full.ema is not None and resumed.ema is not None
        assert int(full.ema.n_averaged) == int(resumed.ema.n_averaged) == 4  # 2 epochs x 2
        ea, eb = full.ema.module.state_dict(), resumed.ema.module.state_dict()
        for k in ea:
            assert torch.equal(ea[k], eb[k]), k
        # The average really differs from the last step's weights.
        assert any(not torch.equal(ea[k], a[k]) for k in a if a[k].is_floating_point())
    sa, sb = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    for k in sa:
        assert torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"])
    assert full.scheduler.state_dict()["last_epoch"] == resumed.scheduler.state_dict()[
        "last_epoch"]
    rows = (tmp_path / "part" / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 epochs, no duplicates after resume
    assert (tmp_path / "part" / "curves.png").stat().st_size > 0


def _seg_state(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {f"{i}.{k}": v.detach().clone() for i, m in enumerate(trainer.model.seg_modules())
            for k, v in m.state_dict().items()}


@pytest.mark.parametrize("phase", [1, 2])
def test_phase2_freezes_seg_heads_weights_and_bn(tmp_path: Path, phase: int) -> None:
    e1, e2 = (1, 0) if phase == 1 else (0, 1)
    tr = Trainer(tiny_recipe(e1, e2, lr=0.01), tiny_samples(4), None, tmp_path, progress=False)
    seg0 = _seg_state(tr)
    det0 = {k: v.clone() for k, v in tr.model.det_head.state_dict().items()}
    tr.fit()
    seg1 = _seg_state(tr)
    changed_seg = [k for k in seg0 if not torch.equal(seg0[k], seg1[k])]
    changed_det = [k for k, v in tr.model.det_head.state_dict().items()
                   if not torch.equal(det0[k], v)]
    assert changed_det, "detection head must train in both phases"
    if phase == 2:
        assert changed_seg == []
        assert all(not p.requires_grad for m in tr.model.seg_modules() for p in m.parameters())
    else:
        assert any("running_mean" in k for k in changed_seg)
        assert any(k.endswith("weight") for k in changed_seg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    info = D.setup("cpu")
    # Each rank seeds differently: DDP must still end with identical weights.
    torch.manual_seed(100 + rank)
    tr = Trainer(tiny_recipe(1, 1), tiny_samples(8), None, Path(out) / "run", info,
                 progress=False)
    assert len(tr.loader) == 2  # 8 samples / 2 ranks / batch 2
    tr.fit()
    params = {k: v.detach().clone() for k, v in tr.model.named_parameters()}
    torch.save(params, Path(out) / f"rank{rank}.pt")
    D.cleanup()


def test_two_process_gloo_ddp_keeps_ranks_identical(tmp_path: Path) -> None:
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    init = Trainer(tiny_recipe(1, 1), tiny_samples(2), None, tmp_path / "x", progress=False)
    moved = [k for k, v in init.model.named_parameters() if not torch.equal(v, r0[k])]
    assert moved, "training must have changed the weights"
    assert (tmp_path / "run" / "last.pt").exists()


def test_cli_reports_missing_data_dir_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = Path(__file__).resolve().parents[1] / "config" / "models" / "mobilenetv2_bifpn.yaml"
    rc = main(["--config", str(cfg), "--data", str(tmp_path / "missing"), "--out",
               str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "data directory not found" in err and "\n" not in err


def test_cli_reports_bad_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("backbone: {name: alexnet}\n")
    rc = main(["--config", str(cfg), "--data", str(tmp_path)])
    assert rc == 1 and "backbone.name" in capsys.readouterr().err


def test_cli_classes_override_and_its_validation(tmp_path: Path) -> None:
    cfg = Path(__file__).resolve().parents[1] / "config" / "models" / "mobilenetv2_bifpn.yaml"
    args = build_parser().parse_args(["--config", str(cfg), "--data", str(tmp_path),
                                      "--classes", "vehicle, pedestrian"])
    recipe = _apply_overrides(load_recipe(cfg), args)
    assert recipe["classes"] == ["vehicle", "pedestrian"]
    args = build_parser().parse_args(["--config", str(cfg), "--data", str(tmp_path),
                                      "--classes", "vehicle,car"])
    with pytest.raises(RecipeError, match="car"):
        _apply_overrides(load_recipe(cfg), args)  # vehicle already holds car


def test_init_weights_fine_tunes_at_another_size_with_own_anchors(tmp_path: Path) -> None:
    data = tiny_samples(2)
    first = Trainer(tiny_recipe(1, 0), data, None, tmp_path / "first", progress=False)
    first.fit()
    source = load_checkpoint(tmp_path / "first" / "last.pt")["model"]

    bigger = with_input_size(tiny_recipe(1, 0), (96, 128))
    tuned = Trainer(bigger, data, None, tmp_path / "tuned", progress=False,
                    init_weights=tmp_path / "first" / "last.pt")
    state = tuned.model.state_dict()
    for key, value in source.items():
        if key == "anchors":
            assert not torch.equal(state[key], value)  # anchors scale with the new input size
        else:
            assert torch.equal(state[key], value), key
    assert tuned.start_epoch == 0  # a fresh schedule, unlike --resume


def test_init_weights_from_an_unrelated_checkpoint_is_refused(tmp_path: Path) -> None:
    torch.save({"model": {"something.else": torch.zeros(3)}, "recipe": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no weight matches"):
        Trainer(tiny_recipe(1, 0), tiny_samples(2), None, tmp_path / "run", progress=False,
                init_weights=tmp_path / "other.pt")


def test_channels_last_changes_layout_not_the_training_step(tmp_path: Path) -> None:
    """NHWC is only a speed choice: the same step gives the same losses and gradients."""
    data = tiny_samples(2)
    batch = collate_samples(data)
    trainers = {}
    for cl in (True, False):
        t = Trainer(tiny_recipe(1, 0, channels_last=cl), data, None, tmp_path / str(cl),
                    progress=False)
        t._enter_phase(1)
        t._set_train_mode()
        trainers[cl] = (t, t.train_step(batch))
    (nhwc, logs_nhwc), (nchw, logs_nchw) = trainers[True], trainers[False]
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
               and not p.is_contiguous() for p in nhwc.model.parameters())
    assert all(p.is_contiguous() for p in nchw.model.parameters())
    for k in logs_nchw:
        assert logs_nhwc[k] == pytest.approx(logs_nchw[k], rel=1e-4, abs=1e-6), k
    # Gradients, not weights: AdamW's first step is about lr * sign(grad), so a gradient
    # that is ~0 in both layouts may flip sign and move a weight by 2 * lr. Summation order
    # differs between the layouts and BatchNorm over 2 tiny images amplifies it: measured
    # 0.7 % relative L2 difference over all gradients; a layout mistake would be ~100 %.
    pa, pb = dict(nhwc.model.named_parameters()), dict(nchw.model.named_parameters())
    names = [n for n, p in pa.items() if p.grad is not None]
    assert names and pa.keys() == pb.keys()
    ga = torch.cat([pa[n].grad.flatten() for n in names])
    gb = torch.cat([pb[n].grad.flatten() for n in names])
    assert float((ga - gb).norm() / gb.norm()) < 0.03


def test_checkpoint_with_ema_exports_the_averaged_weights(tmp_path: Path) -> None:
    from mtl_perception.training.model.network import model_from_checkpoint

    tr = Trainer(tiny_recipe(1, 0, ema_decay=0.9, ema_tau_steps=2.0), tiny_samples(4), None,
                 tmp_path, progress=False)
    tr.fit()
    assert tr.ema is not None
    loaded, ckpt = model_from_checkpoint(str(tmp_path / "last.pt"))
    for k, v in tr.ema.module.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert any(not torch.equal(ckpt["model"][k], v)
               for k, v in ckpt["ema"].items() if v.is_floating_point())


def _record_lrs(trainer: Trainer) -> list[float]:
    """The learning rate each optimizer step of ``trainer`` runs at."""
    lrs: list[float] = []
    step = trainer.train_step

    def recording(batch: dict[str, Any]) -> dict[str, float]:
        lrs.append(float(trainer.optimizer.param_groups[0]["lr"]))
        return step(batch)

    trainer.train_step = recording  # type: ignore[method-assign]
    return lrs


def test_resume_into_a_longer_schedule_continues_the_new_cosine(tmp_path: Path) -> None:
    data = tiny_samples(4)  # 2 steps per epoch; warm-up: the first step
    # A fresh run's lr per step does not depend on its weights: step its scheduler alone.
    fresh = Trainer(tiny_recipe(1, 3), data, None, tmp_path / "fresh", progress=False)
    fresh_lrs = []
    for _ in range(4 * len(fresh.loader)):
        fresh_lrs.append(float(fresh.optimizer.param_groups[0]["lr"]))
        fresh.optimizer.step()  # no gradients: only keeps torch's step-order check quiet
        fresh.scheduler.step()
    short = Trainer(tiny_recipe(1, 1), data, None, tmp_path / "run", progress=False)
    short.fit()  # finished: its cosine reached the floor
    longer = Trainer(tiny_recipe(1, 3), data, None, tmp_path / "run", progress=False,
                     resume=tmp_path / "run" / "last.pt")
    resumed_lrs = _record_lrs(longer)
    longer.fit()
    assert len(fresh_lrs) == 8 and len(resumed_lrs) == 4
    assert resumed_lrs == pytest.approx(fresh_lrs[4:], rel=1e-12)
    assert resumed_lrs[0] > 10 * fresh_lrs[-1]  # not stuck at the floor
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["epoch"] == 4 and ckpt["recipe"]["train"]["epochs_phase2"] == 3


def test_resume_with_an_unchanged_schedule_keeps_the_checkpoints_lr(tmp_path: Path) -> None:
    data = tiny_samples(4)
    part = Trainer(tiny_recipe(1, 1), data, None, tmp_path, progress=False)
    part.fit(max_epochs=1)
    lr_next = part.optimizer.param_groups[0]["lr"]
    resumed = Trainer(tiny_recipe(1, 1), data, None, tmp_path, progress=False,
                      resume=tmp_path / "last.pt")
    assert resumed.optimizer.param_groups[0]["lr"] == lr_next


@pytest.mark.parametrize(("change", "named"), [
    ({"train": {"batch_size": 4}}, "train.batch_size 2 -> 4"),
    ({"train": {"lr": 0.1}}, "train.lr 0.002 -> 0.1"),
    ({"train": {"seed": 3}}, "train.seed 0 -> 3"),
    ({"classes": ["vehicle"]}, "classes"),
    ({"input_size": [96, 128]}, "input_size [64, 96] -> [96, 128]"),
    ({"train": {"ema_decay": 0.5}}, "train.ema_decay"),
])
def test_resume_with_a_setting_that_shapes_the_weights_is_refused(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    from mtl_perception.training.config.recipe import _merge
    from mtl_perception.training.engine.resume import ResumeError

    Trainer(tiny_recipe(1, 0), tiny_samples(2), None, tmp_path, progress=False).fit()
    asked = normalize_recipe(_merge(tiny_recipe(1, 0), change))
    with pytest.raises(ResumeError, match="cannot resume") as err:
        Trainer(asked, tiny_samples(2), None, tmp_path, progress=False,
                resume=tmp_path / "last.pt")
    assert named in str(err.value) and "\n" not in str(err.value)


def test_resume_refuses_to_move_the_phase_boundary_behind_it(tmp_path: Path) -> None:
    from mtl_perception.training.engine.resume import ResumeError

    Trainer(tiny_recipe(2, 0), tiny_samples(2), None, tmp_path, progress=False).fit()
    with pytest.raises(ResumeError, match="epochs_phase1 2 -> 1"):
        Trainer(tiny_recipe(1, 2), tiny_samples(2), None, tmp_path, progress=False,
                resume=tmp_path / "last.pt")


def test_a_batch_without_lane_or_drivable_labels_logs_zero_not_nan(tmp_path: Path) -> None:
    data = tiny_samples(2)
    for s in data:
        s["lane"][:] = 255  # IGNORE: this frame has no lane label
        s["drivable"][:] = 255
    tr = Trainer(tiny_recipe(1, 0), data, None, tmp_path, progress=False)
    tr._enter_phase(1)
    tr._set_train_mode()
    before = [p.detach().clone() for p in tr.model.seg_modules()[0].parameters()]
    logs = tr.train_step(collate_samples(data))
    assert logs["lane"] == 0.0 and logs["drivable"] == 0.0
    assert all(np.isfinite(v) for v in logs.values()) and logs["total"] > 0
    after = list(tr.model.seg_modules()[0].parameters())
    assert all(torch.isfinite(p).all() for p in after)
    # AdamW's weight decay still moves them, but not by a gradient step.
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(after, before, strict=True))


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mtl_perception.training.engine.trainer import NonFiniteLossError
    from mtl_perception.training.loss.losses import MultiTaskLoss

    calls = {"n": 0}
    seg_loss = MultiTaskLoss.segmentation_loss

    def poisoned(self: MultiTaskLoss, out: dict, batch: dict) -> dict:
        terms = seg_loss(self, out, batch)
        calls["n"] += 1
        if calls["n"] == 3:  # the first step of epoch 2
            terms["lane"] = terms["lane"] * float("nan")
        return terms

    monkeypatch.setattr(MultiTaskLoss, "segmentation_loss", poisoned)
    tr = Trainer(tiny_recipe(2, 0), tiny_samples(4), None, tmp_path, progress=False)
    with pytest.raises(NonFiniteLossError) as err:
        tr.fit()
    msg = str(err.value)
    assert "step 3 (epoch 2)" in msg and "loss_lane is nan" in msg and "\n" not in msg
    assert "keeps epoch 1" in msg
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    # The poisoned step never reached the weights.
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())


@pytest.mark.parametrize("content", [b"garbage", b"PK\x03\x04 truncated zip"])
def test_a_corrupt_checkpoint_is_one_line_about_the_file(tmp_path: Path, content: bytes,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from mtl_perception.training.engine import evaluate

    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupt, truncated or not a PyTorch") as err:
        load_checkpoint(bad)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    rc = run_cli("mtl-eval", evaluate.main,
                 ["--weights", str(bad), "--data", str(tmp_path), "--device", "cpu"])
    out = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in out and "weights_only" not in out


def test_kmeans_anchors_go_into_the_run_not_into_the_callers_recipe(tmp_path: Path) -> None:
    recipe = tiny_recipe(1, 0)
    recipe["anchor_kmeans"] = True
    before = copy.deepcopy(recipe)
    data = tiny_samples(12)
    for i, s in enumerate(data):  # box sizes 8x6 ... 52x39: something to cluster
        w, h = 8 + 4 * i, 6 + 3 * i
        s["boxes"] = np.array([[2, 2, 2 + w, 2 + h]], np.float32)
    tr = Trainer(recipe, data, None, tmp_path, progress=False)
    assert recipe == before  # the caller's dict, nested lists included, is untouched
    fitted = np.asarray(tr.recipe["anchors"], np.float32).reshape(-1, 2)
    assert tr.recipe["anchors"] != before["anchors"] and fitted.max() <= 52.0
    tr.fit()
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["recipe"]["anchors"] == tr.recipe["anchors"]  # resume and export see them
    resumed = Trainer(recipe, data, None, tmp_path, progress=False,
                      resume=tmp_path / "last.pt")
    assert resumed.recipe["anchors"] == tr.recipe["anchors"] and recipe == before
