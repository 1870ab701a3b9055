"""mtl-train's command line on a real (tiny, synthetic) BDD-layout folder: resume rules,
devices, run directories and the data report, each as a user meets them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mtl_perception.common.cli_args import run_cli
from mtl_perception.synth import generate as synth
from mtl_perception.training.engine.checkpoint import load_checkpoint
from mtl_perception.training.engine.trainer import main as train_main

TINY = Path(__file__).resolve().parents[1] / "config" / "models" / "mobilenetv2_bifpn_tiny.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    assert synth.main(["--out", str(root), "--train", "4", "--val", "2", "--size", "128x192",
                       "--no-progress"]) == 0
    return root


def main(argv: list[str]) -> int:
    """``mtl-train ARGV`` as the console script runs it (exit status, one-line errors)."""
    return run_cli("mtl-train", train_main, argv)


def train(data: Path, out: Path, *extra: str) -> int:
    return main(["--config", str(TINY), "--data", str(data), "--out", str(out), "--no-progress",
                 "--input-size", "64x96", "--batch-size", "2", "--workers", "0",
                 "--val-every", "0", *extra])


def test_resume_auto_keeps_the_runs_settings_and_applies_a_longer_schedule(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, "mtl-train")
    assert train(data, tmp_path, "--epochs-phase1", "1", "--epochs-phase2", "0",
                 "--resume", "auto") == 0
    assert "--resume auto: no" in caplog.text and "starting a fresh run" in caplog.text
    caplog.clear()
    # Resuming without the options keeps the checkpoint's schedule, not the recipe file's 24.
    assert main(["--config", str(TINY), "--data", str(data), "--out", str(tmp_path),
                 "--no-progress", "--resume", "auto"]) == 0
    assert "--resume auto: found" in caplog.text and "nothing to train" in caplog.text
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    caplog.clear()
    assert main(["--config", str(TINY), "--data", str(data), "--out", str(tmp_path),
                 "--no-progress", "--resume", "auto", "--epochs-phase2", "1"]) == 0
    assert "train.epochs_phase2 0 -> 1" in caplog.text
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["recipe"]["input_size"] == [64, 96]
    # Changes that would train another network stop with one line naming them all.
    rc = main(["--config", str(TINY), "--data", str(data), "--out", str(tmp_path), "--no-progress",
               "--resume", "auto", "--batch-size", "1", "--lr", "0.1", "--classes", "vehicle",
               "--input-size", "96x160"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err
    for named in ("train.batch_size 2 -> 1", "train.lr 0.004 -> 0.1", "classes",
                  "input_size [64, 96] -> [96, 160]"):
        assert named in err
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 2


@pytest.mark.parametrize("tool", ["train", "eval"])
def test_an_unknown_device_name_is_a_one_line_usage_error(
    tool: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mtl_perception.training.engine import evaluate
    if tool == "train":
        rc = train(data, tmp_path, "--device", "gpu")
    else:
        rc = run_cli("mtl-eval", evaluate.main, ["--weights", str(tmp_path / "x.pt"),
                                                 "--data", str(data), "--device", "gpu"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "unknown device 'gpu'" in err and "cuda:N" in err


def test_a_gpu_that_is_not_there_stops_with_the_reason(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = train(data, tmp_path / "run", "--device", "cuda:7", "--epochs-phase1", "1",
               "--epochs-phase2", "0")
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "--device cuda:7 is not usable" in err
    assert not (tmp_path / "run" / "last.pt").exists()  # no silent CPU run


def test_device_index_out_of_range_names_the_visible_gpus(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import torch

    from mtl_perception.training.engine.devices import DeviceError, resolve_device

    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(DeviceError, match=r"no GPU 7: 2 visible \(cuda:0..cuda:1\)"):
        resolve_device("cuda:7")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceError, match="has no CUDA support"):
        resolve_device("cuda")
    assert resolve_device(None) == torch.device("cpu")


def test_the_device_and_precision_are_logged_at_start(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "mtl-train")
    assert train(data, tmp_path, "--device", "cpu", "--epochs-phase1", "1",
                 "--epochs-phase2", "0") == 0
    assert "device cpu (" in caplog.text and "precision fp32" in caplog.text


def test_a_non_finite_loss_is_one_line_and_exit_1(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mtl_perception.training.loss.losses import MultiTaskLoss

    detection_loss = MultiTaskLoss.detection_loss

    def poisoned(self: MultiTaskLoss, *args: object, **kw: object) -> dict:
        terms = detection_loss(self, *args, **kw)  # type: ignore[arg-type]
        terms["box"] = terms["box"] + float("inf")
        return terms

    monkeypatch.setattr(MultiTaskLoss, "detection_loss", poisoned)
    rc = train(data, tmp_path, "--epochs-phase1", "1", "--epochs-phase2", "0")
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "step 1 (epoch 1): loss term loss_box is inf" in err
    assert "no checkpoint was written yet" in err and not (tmp_path / "last.pt").exists()


def _copy_data(data: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(data, dest)
    return dest


def test_the_data_report_is_logged_and_written(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _copy_data(data, tmp_path / "data")
    masks = sorted((root / "labels" / "drivable" / "masks" / "train").iterdir())
    masks[0].unlink()  # one frame without its drivable mask
    caplog.set_level(logging.INFO, "mtl-train")
    assert train(root, tmp_path / "run", "--epochs-phase1", "1", "--epochs-phase2", "0") == 0
    text = (tmp_path / "run" / "data_report.txt").read_text()
    assert "train: 4 images (.jpg)" in text and text.strip() in caplog.text
    assert "drivable: 3 labelled, 1 without (" + masks[0].stem + ".jpg)" in text
    assert "detection: 4 labelled, 0 without" in text and "lane: 4 labelled" in text


def test_png_images_named_jpg_in_the_labels_stop_the_run(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    root = _copy_data(data, tmp_path / "data")
    for split in ("train", "val"):
        for jpg in (root / "images" / "100k" / split).glob("*.jpg"):
            cv2.imwrite(str(jpg.with_suffix(".png")), cv2.imread(str(jpg)))
            jpg.unlink()
    rc = train(root, tmp_path / "run", "--epochs-phase1", "1", "--epochs-phase2", "0")
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err
    assert "the detection labels name synth0-train-000000.jpg but the image is " \
           "synth0-train-000000.png" in err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_trained_task_without_any_label_stops_saying_where_it_looked(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy_data(data, tmp_path / "data")
    lane_json = root / "labels" / "lane" / "polygons" / "lane_train.json"
    lane_json.unlink()
    rc = train(root, tmp_path / "run", "--epochs-phase1", "1", "--epochs-phase2", "0")
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err
    assert "the recipe trains lane but no train image has lane labels" in err
    assert f"looked in {lane_json}" in err


def test_run_dir_holds_the_resolved_recipe_and_refuses_a_second_fresh_run(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mtl_perception.training.config.recipe import load_recipe

    caplog.set_level(logging.INFO, "mtl-train")
    out = tmp_path / "run"
    assert train(data, out, "--epochs-phase1", "1", "--epochs-phase2", "0", "--seed", "7") == 0
    ckpt = load_checkpoint(out / "last.pt")
    resolved = load_recipe(out / "recipe.yaml")  # strict: a recipe mtl-train accepts
    assert resolved["train"]["seed"] == 7 and ckpt["recipe"]["train"]["seed"] == 7
    assert {k: v for k, v in resolved.items() if k != "name"} == \
        {k: v for k, v in ckpt["recipe"].items() if k != "name"}
    assert "seed 7" in caplog.text
    # --val-every 0 still validates once at the end, so best.pt exists.
    assert (out / "best.pt").exists() and ckpt["best_fitness"] >= 0
    # The lr of the warm-up's first epoch is 4e-05, not 0.0000.
    assert "lr=4e-05" in caplog.text and "lr=0.0000" not in caplog.text
    # A fresh run into the same folder refuses; --overwrite replaces the old run's files.
    rc = train(data, out, "--epochs-phase1", "1", "--epochs-phase2", "0")
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "already holds a run (last.pt, best.pt" in err
    (out / "best.pt").write_bytes(b"stale")
    assert train(data, out, "--epochs-phase1", "1", "--epochs-phase2", "0", "--overwrite",
                 "--val-split", "nope") == 0  # no val split: no best.pt, and no stale one
    assert not (out / "best.pt").exists() and load_checkpoint(out / "last.pt")["epoch"] == 1


def test_curves_mark_the_phase_boundary_and_plot_the_lr() -> None:
    from mtl_perception.training.engine.plots import log_figure

    rows = [{"epoch": str(e), "phase": "1" if e <= 2 else "2", "lr": str(0.004 / e),
             "loss_total": str(2.0 / e), "val_fitness": ""} for e in range(1, 5)]
    fig = log_figure(rows)
    losses, _metrics, lr = fig.axes
    assert [list(ln.get_ydata()) for ln in lr.get_lines() if ln.get_label() == "lr"] == \
        [[0.004 / e for e in range(1, 5)]]
    marks = [ln for ln in losses.get_lines() if ln.get_label().startswith("phase 2")]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [2.5, 2.5]


def test_a_single_task_recipe_says_up_front_that_it_is_not_deployable(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mtl_perception.deploy import export
    cfg = tmp_path / "det_only.yaml"
    cfg.write_text(TINY.read_text() + "tasks: [detection]\n")
    caplog.set_level(logging.INFO, "mtl-train")
    rc = main(["--config", str(cfg), "--data", str(data), "--out", str(tmp_path / "run"),
               "--no-progress", "--input-size", "64x96", "--batch-size", "2", "--workers", "0",
               "--epochs-phase1", "1", "--epochs-phase2", "0"])
    assert rc == 0
    first = caplog.text.index("the recipe trains only detection")
    assert first < caplog.text.index("epoch 1/1") and "mtl-export refuses it" in caplog.text
    capsys.readouterr()
    rc = run_cli("mtl-export", export.main, ["--weights", str(tmp_path / "run" / "last.pt"),
                                             "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "\n" not in err and "needs all three tasks" in err
