"""mtl-eval: NMS protocol, model statistics, and the end-to-end CLI on a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mtl_perception.training.config.recipe import load_recipe, normalize_recipe
from mtl_perception.training.engine.checkpoint import save_atomic
from mtl_perception.training.engine.evaluate import main, model_stats, nms_per_image
from mtl_perception.training.model.network import build_model

CONFIGS = Path(__file__).resolve().parents[1] / "config" / "models"


def test_nms_is_classwise_and_multilabel() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    scores = torch.tensor([[0.9, 0.0], [0.8, 0.7], [0.0005, 0.002]])
    _boxes, s, c = nms_per_image(boxes, scores, conf=0.001, iou=0.6, max_det=10)
    got = sorted(zip(c.tolist(), [round(v, 4) for v in s.tolist()], strict=True))
    # box 1 is suppressed by box 0 in class 0 but survives alone in class 1; the 0.0005
    # score is under the threshold.
    assert got == [(0, 0.9), (1, 0.002), (1, 0.7)]


def test_stats_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = CONFIGS / "mobilenetv2_bifpn.yaml"
    assert main(["stats", "--config", str(cfg), "--resolution", "384x640", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    stats = json.loads(lines[0])
    recipe = load_recipe(cfg)
    recipe["backbone"]["pretrained"] = False
    assert stats["params"] == sum(p.numel() for p in build_model(recipe).parameters())
    assert "2 x multiply-adds" in stats["flops_convention"]
    assert stats["macs"] * 2 == stats["flops"]
    assert stats["size_mb"] == pytest.approx(stats["params"] * 4 / 1e6, rel=0.05)
    # A real counter: a quarter of the pixels costs about a quarter of the FLOPs.
    quarter = model_stats(load_recipe(cfg), (192, 320))
    assert quarter["flops"] / stats["flops"] == pytest.approx(0.25, rel=0.1)


def test_stats_cli_bad_recipe_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input_size: [100, 100]\n")
    assert main(["stats", "--config", str(bad), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert "input_size" in err and "\n" not in err


def test_eval_cli_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--weights", str(tmp_path / "none.pt"), "--data", str(tmp_path)])
    assert rc == 2 and "checkpoint not found" in capsys.readouterr().err


def test_eval_cli_end_to_end_on_synthetic_data(tmp_path: Path) -> None:
    from mtl_perception.synth.generate import generate

    generate(tmp_path / "data", 0, 3, seed=5, width=640, height=360, progress=False)
    recipe = normalize_recipe({
        "name": "tiny", "backbone": {"name": "mobilenetv2", "pretrained": False},
        "input_size": [128, 224], "neck": {"channels": 32, "repeats": 1},
        "seg_head": {"channels": 16, "low_level_channels": 8},
    })
    model = build_model(recipe)
    save_atomic({"model": model.state_dict(), "recipe": recipe, "epoch": 0},
                tmp_path / "ckpt.pt")
    out = tmp_path / "metrics.json"
    rc = main(["--weights", str(tmp_path / "ckpt.pt"), "--data", str(tmp_path / "data"),
               "--split", "val", "--out", str(out), "--workers", "0", "--device", "cpu"])
    assert rc == 0
    m = json.loads(out.read_text())
    assert m["n_images"] == 3 and m["split"] == "val"
    assert m["detection"]["yolop"]["classes"]["n_gt"] > 0
    assert set(m["detection"]["bdd100k"]) >= {"AP", "AP50", "AP75", "ap_per_class"}
    assert set(m["drivable"]) >= {"yolop", "merged", "bdd100k"}
    assert set(m["lane"]) >= {"yolop", "hybridnets", "bdd100k"}
    assert out.with_suffix(".pr.png").stat().st_size > 0
