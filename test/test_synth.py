"""mtl-synth: deterministic by seed, exact BDD100K layout, labels that match the pixels."""

from __future__ import annotations

import hashlib
import itertools
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_perception.common.classes import BDD_CLASSES
from mtl_perception.common.cli_args import run_cli
from mtl_perception.synth.generate import generate, generate_drive, main, render_still
from mtl_perception.training.data import BddDataset, poly2d_points

W, H = 320, 180


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_is_exactly_bdd_and_deterministic(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["--out", str(a), "--train", "3", "--val", "2", "--seed", "5", "--size",
                 f"{H}x{W}", "--no-progress"]) == 0
    generate(b, 3, 2, seed=5, width=W, height=H, progress=False)
    generate(c, 3, 2, seed=6, width=W, height=H, progress=False)
    tree = _tree(a)
    assert tree == _tree(b)  # same seed: byte-identical files
    assert tree != _tree(c)
    stems = [f"synth5-{s}-{i:06d}" for s, n in (("train", 3), ("val", 2)) for i in range(n)]
    expected = {f"images/100k/{s.split('-')[1]}/{s}.jpg" for s in stems}
    expected |= {f"labels/drivable/masks/{s.split('-')[1]}/{s}.png" for s in stems}
    expected |= {f"labels/det_20/det_{s}.json" for s in ("train", "val")}
    expected |= {f"labels/lane/polygons/lane_{s}.json" for s in ("train", "val")}
    assert set(tree) == expected


def test_labels_parse_back_in_official_format(tmp_path: Path) -> None:
    generate(tmp_path, 6, 0, seed=1, width=W, height=H, progress=False)
    det = json.loads((tmp_path / "labels/det_20/det_train.json").read_text())
    lane = json.loads((tmp_path / "labels/lane/polygons/lane_train.json").read_text())
    assert [f["name"] for f in det] == [f["name"] for f in lane] == [
        f"synth1-train-{i:06d}.jpg" for i in range(6)]
    n_boxes = 0
    for frame in det:
        assert set(frame["attributes"]) == {"weather", "timeofday", "scene"}
        img = cv2.imread(str(tmp_path / "images/100k/train" / frame["name"]))
        assert img.shape == (H, W, 3)
        png = cv2.imread(str(tmp_path / "labels/drivable/masks/train" /
                              frame["name"].replace(".jpg", ".png")), cv2.IMREAD_UNCHANGED)
        assert png.shape == (H, W) and set(np.unique(png)) <= {0, 1, 2}
        assert (png == 0).any()  # the ego lane is always there
        for lab in frame["labels"]:
            n_boxes += 1
            assert lab["category"] in BDD_CLASSES
            assert set(lab["attributes"]) == {"occluded", "truncated", "trafficLightColor"}
            b = lab["box2d"]
            assert 0 <= b["x1"] < b["x2"] <= W and 0 <= b["y1"] < b["y2"] <= H
            if lab["category"] in ("car", "truck", "bus"):
                # A vehicle hides the drivable area behind it: its box is not all ego lane.
                region = png[int(b["y1"]):int(b["y2"]), int(b["x1"]):int(b["x2"])]
                assert (region == 2).mean() > 0.3
    assert n_boxes > 6
    for frame in lane:
        for lab in frame["labels"]:
            assert lab["attributes"]["laneDirection"] in ("parallel", "vertical")
            assert lab["attributes"]["laneStyle"] in ("solid", "dashed")
            (poly,) = lab["poly2d"]
            assert poly["closed"] is False and len(poly["types"]) == len(poly["vertices"])
            pts = poly2d_points(poly)
            assert (pts >= -0.5).all() and (pts[:, 0] <= W).all() and (pts[:, 1] <= H).all()


def test_loader_reads_generated_set(tmp_path: Path) -> None:
    generate(tmp_path, 2, 0, seed=2, width=W, height=H, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean synthetic set produces no warning
        ds = BddDataset(tmp_path, "train", input_size=(96, 160))
    s = ds[0]
    assert s["has_det"] and s["has_drivable"] and s["has_lane"]
    assert s["lane"].any() and set(np.unique(s["drivable"])) <= {0, 1, 2}


def test_still_render_is_seeded_per_image() -> None:
    a = render_still(3, "train", 7, W, H)
    b = render_still(3, "train", 7, W, H)
    c = render_still(3, "train", 8, W, H)
    assert np.array_equal(a.image, b.image) and a.det == b.det and a.lane == b.lane
    assert not np.array_equal(a.image, c.image)


def test_drive_is_ordered_and_temporally_coherent(tmp_path: Path) -> None:
    frames = []
    names = generate_drive(frames.append, num_frames=12, fps=10, seed=4, width=W, height=H,
                           progress=False)
    assert names == [f"drive4-{i:06d}.jpg" for i in range(12)]
    assert [f.det["frameIndex"] for f in frames] == list(range(12))
    assert [f.det["timestamp"] for f in frames] == [100 * i for i in range(12)]
    for prev, cur in itertools.pairwise(frames):
        # Consecutive drivable maps overlap strongly; a fresh random scene would not.
        a, b = prev.drivable != 2, cur.drivable != 2
        assert (a & b).sum() / (a | b).sum() > 0.8
        assert np.abs(prev.image.astype(int) - cur.image.astype(int)).mean() < 25
    assert not np.array_equal(frames[0].image, frames[-1].image)  # things do move
    # Written to disk: the same official layout, frames in order.
    generate_drive(tmp_path, num_frames=3, fps=10, seed=4, width=W, height=H, progress=False)
    det = json.loads((tmp_path / "labels/det_20/det_val.json").read_text())
    assert [f["name"] for f in det] == names[:3]
    assert det[2] == frames[2].det
    assert (tmp_path / "images/100k/val" / names[2]).is_file()


def test_nonsense_arguments_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, named in ((["--train", "-5"], "--train: must be >= 0, got -5"),
                        (["--workers", "0"], "--workers: must be >= 1, got 0"),
                        (["--size", "128x64"], "--size: expected HxW (height first, e.g. "
                                               "64x128)"),
                        (["--size", "32x64"], "--size: must be >= 64 each way, got 32x64")):
        with pytest.raises(SystemExit) as code:
            main(["--out", str(tmp_path / "d"), *args])
        err = capsys.readouterr().err.strip()
        assert code.value.code == 2 and err.startswith(f"mtl-synth: error: argument {named}")
        assert "\n" not in err
    assert not (tmp_path / "d").exists()


def test_an_unwritable_out_is_one_line_before_any_worker_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = run_cli("mtl-synth", main, ["--out", "/proc/nope", "--train", "4", "--val", "1",
                                     "--workers", "2", "--size", "64x64", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err == "mtl-synth: cannot write /proc/nope: No such file or directory"
