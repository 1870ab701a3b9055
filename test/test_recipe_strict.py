"""Strict recipes: every key at every depth, every value's type and range, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtl_perception.common.cli_args import run_cli
from mtl_perception.training.config.recipe import RecipeError, load_recipe, normalize_recipe
from mtl_perception.training.engine.trainer import main

CONFIGS = Path(__file__).resolve().parents[1] / "config" / "models"


@pytest.mark.parametrize(("bad", "match"), [
    ({"neck": {"chanels": 64}}, "'neck.chanels'; did you mean 'neck.channels'"),
    ({"train": {"batchsize": 2}}, "'train.batchsize'; did you mean 'train.batch_size'"),
    ({"loss": {"anchor_ratio": 2.0}}, "did you mean 'loss.anchor_ratio_max'"),
    ({"augment": {"flipp": 0.5}}, "'augment.flipp'; did you mean 'augment.flip'"),
    ({"det_head": {"channels": 16}}, "'det_head.channels'"),
    ({"train": {"lr": "fast"}}, "train.lr must be a number; got 'fast'"),
    ({"train": {"epochs_phase1": "one"}}, "train.epochs_phase1 must be an integer"),
    ({"train": {"batch_size": 2.5}}, "train.batch_size must be an integer"),
    ({"backbone": {"pretrained": "flase"}}, "backbone.pretrained must be true or false"),
    ({"train": {"amp": 1}}, "train.amp must be true or false"),
    ({"neck": 64}, "neck must be a mapping"),
    ({"train": {"lr": -0.1}}, "train.lr must be > 0"),
    ({"train": {"workers": -1}}, "train.workers must be >= 0"),
    ({"augment": {"flip": 1.5}}, r"augment.flip must be in \[0.0, 1.0\]"),
    ({"augment": {"scale": [1.2]}}, "augment.scale must be a list of 2 numbers"),
    ({"augment": {"scale": [1.5, 0.5]}}, "low <= high"),
    ({"eval": {"iou_threshold": 0}}, "eval.iou_threshold"),
    ({"anchors": [[["a", 1]]]}, "anchors"),
    ({"tasks": ["detection", "detection"]}, "tasks"),
])
def test_bad_values_and_keys_are_one_line_errors(bad: dict, match: str) -> None:
    with pytest.raises(RecipeError, match=match) as err:
        normalize_recipe(bad)
    assert "\n" not in str(err.value)


def test_valid_nested_and_optional_keys_are_accepted() -> None:
    r = normalize_recipe({"backbone": {"name": "mobilenetv2", "width_mult": 0.5},
                          "augment": {"flip": 0.0, "scale": [0.9, 1.1]},
                          "train": {"warmup_epochs": 2, "lr": 1}})
    assert r["augment"] == {"flip": 0.0, "scale": [0.9, 1.1]}
    assert r["train"]["warmup_epochs"] == 2
    for cfg in CONFIGS.glob("*.yaml"):
        assert load_recipe(cfg)["name"] == cfg.stem


def test_cli_nested_typo_names_file_key_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("neck: {chanels: 64}\n")
    rc = run_cli("mtl-train", main,
                 ["--config", str(cfg), "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err  # a bad file: a runtime error
    assert str(cfg) in err and "did you mean 'neck.channels'" in err
    assert not (tmp_path / "r").exists()


def test_cli_bad_override_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_cli("mtl-train", main, ["--config", str(CONFIGS / "mobilenetv2_bifpn_tiny.yaml"),
                                     "--data", str(tmp_path), "--lr", "-1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "train.lr" in err and "\n" not in err
