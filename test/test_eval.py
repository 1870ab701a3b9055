"""mtl-eval: NMS protocol, model statistics, and the end-to-end CLI on a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mtl_perception.common.cli_args import run_cli
from mtl_perception.training.config.recipe import load_recipe, normalize_recipe
from mtl_perception.training.engine.checkpoint import save_atomic
from mtl_perception.training.engine.evaluate import main as eval_main
from mtl_perception.training.engine.evaluate import model_stats, nms_per_image
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


def main(argv: list[str]) -> int:
    """``mtl-eval ARGV`` as the console script runs it (exit status, one-line errors)."""
    return run_cli("mtl-eval", eval_main, argv)


def test_stats_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    cfg = CONFIGS / "mobilenetv2_bifpn.yaml"
    assert main(["stats", "--config", str(cfg), "--resolution", "384x640", "--json", "-"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1  # '-': the JSON alone, one line, on stdout (mtl-bench reads it)
    stats = json.loads(lines[0])
    out = tmp_path / "stats.json"
    assert main(["stats", "--config", str(cfg), "--resolution", "384x640", "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == stats  # --json PATH writes the same object there
    recipe = load_recipe(cfg)
    recipe["backbone"]["pretrained"] = False
    assert stats["params"] == sum(p.numel() for p in build_model(recipe).parameters())
    assert "2 x multiply-adds" in stats["flops_convention"]
    assert stats["macs"] * 2 == stats["flops"]
    assert stats["size_mb"] == pytest.approx(stats["params"] * 4 / 1e6, rel=0.05)
    # A real counter: a quarter of the pixels costs about a quarter of the FLOPs.
    quarter = model_stats(load_recipe(cfg), (192, 320))
    assert quarter["flops"] / stats["flops"] == pytest.approx(0.25, rel=0.1)


def test_stats_json_path_writes_the_file_and_keeps_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub" / "stats.json"
    assert main(["stats", "--config", str(CONFIGS / "mobilenetv2_bifpn.yaml"),
                 "--resolution", "192x320", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert json.loads(out.read_text())["params"] > 0 and "params:" in table


def test_sizes_are_height_first_in_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from mtl_perception.deploy import export
    from mtl_perception.training.engine.cli import build_parser

    with pytest.raises(SystemExit) as usage:
        main(["stats", "--config", str(CONFIGS / "mobilenetv2_bifpn.yaml"),
              "--resolution", "640x384"])
    assert usage.value.code == 2 and "height first, e.g. 384x640" in capsys.readouterr().err
    assert build_parser().parse_args(["--config", "c", "--data", "d", "--input-size",
                                      "256x384"]).input_size == (256, 384)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--config", "c", "--data", "d", "--input-size", "384x256"])
    with pytest.raises(SystemExit):
        export.main(["--weights", "w.pt", "--out", "m.onnx", "--resolution", "640x384"])


def test_stats_cli_bad_recipe_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input_size: [100, 100]\n")
    assert main(["stats", "--config", str(bad), "--json", "-"]) == 1
    err = capsys.readouterr().err.strip()
    assert "input_size" in err and "\n" not in err


def test_eval_cli_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--weights", str(tmp_path / "none.pt"), "--data", str(tmp_path)])
    assert rc == 1 and "checkpoint not found" in capsys.readouterr().err
    # The explicit subcommand is the same command.
    rc = main(["checkpoint", "--weights", str(tmp_path / "none.pt"), "--data", str(tmp_path)])
    assert rc == 1 and "checkpoint not found" in capsys.readouterr().err


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


def test_stats_lists_several_recipes_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    names = ["mobilenetv2_bifpn", "resnet50_bifpn", "mobilenetv2_bifpn_fast"]
    assert main(["stats", "--config", *(str(CONFIGS / f"{n}.yaml") for n in names),
                 "--resolution", "192x320", "--json", "-"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["recipe"] for r in rows] == names
    assert all(r["resolution"] == [192, 320] for r in rows)
    assert rows[2]["flops"] < rows[0]["flops"] < rows[1]["flops"]
    assert main(["stats", "--config", *(str(CONFIGS / f"{n}.yaml") for n in names),
                 "--resolution", "192x320"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["recipe", "input", "params", "GFLOPs"]
    assert [line.split()[0] for line in table[1:4]] == names
