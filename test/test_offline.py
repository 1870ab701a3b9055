"""mtl-offline on a tiny labelled synthetic drive: MP4, BDD JSON, masks, output bag, metrics.

The model is an ONNX graph with constant outputs (test/node_fixture_model.py) set to one
frame's ground truth in network space, so the scores for that frame are known: perfect.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("onnx")
from node_fixture_model import build_oracle_model

from mtl_perception.common.classes import BDD_CLASSES
from mtl_perception.common.cli_args import run_cli
from mtl_perception.devtools import bdd2bag
from mtl_perception.evaluation import offline
from mtl_perception.evaluation.groundtruth import GroundTruth
from mtl_perception.evaluation.render import count_video_frames
from mtl_perception.io import rosbag2
from mtl_perception.synth.generate import generate_drive

SRC_HW, NET_HW = (224, 384), (256, 384)


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], Path]:
    """3-frame drive in BDD layout + a model whose outputs are frame 1's ground truth."""
    root = tmp_path_factory.mktemp("drive")
    names = generate_drive(root, 3, 10.0, seed=3, width=SRC_HW[1], height=SRC_HW[0],
                           progress=False)
    truth = GroundTruth.from_bdd_root(root, "val").frame(names[1], SRC_HW)
    assert truth is not None and truth.boxes and truth.lane.any()
    model = build_oracle_model(root / "oracle.onnx", truth, SRC_HW, NET_HW, BDD_CLASSES)
    return root, names, model


def test_offline_on_a_labelled_bag(drive: tuple[Path, list[str], Path], tmp_path: Path) -> None:
    root, names, model = drive
    bag = tmp_path / "bag"
    assert bdd2bag.main([str(root / "images/100k/val"), "--out", str(bag), "--labels",
                         str(root / "labels/det_20/det_val.json"), "--no-progress"]) == 0
    out = tmp_path / "out"
    rc = offline.main([str(bag), "--model", str(model), "--out", str(out), "--bdd-root",
                       str(root), "--masks", "--out-bag", "--no-progress"])
    assert rc == 0
    assert count_video_frames(out / "overlay.mp4") == 3
    preds = json.loads((out / "predictions.json").read_text())
    assert [p["name"] for p in preds] == names  # names travelled through the bag
    assert all(p["labels"] and {"category", "box2d", "score"} <= set(p["labels"][0])
               for p in preds)
    assert sorted(p.name for p in (out / "masks/lane").iterdir()) == [
        n.replace(".jpg", ".png") for n in names]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_frames"] == {"detection": 3, "drivable": 3, "lane": 3}
    assert 0.0 < metrics["detection"]["yolop"]["vehicle"]["map50"] <= 1.0
    assert metrics["drivable"]["yolop"]["miou"] > 0.5
    assert metrics["protocol"]["conf_threshold"] == pytest.approx(0.25)
    # The output bag carries the node's topics with the input's stamps.
    stamps = [f.stamp_ns for f in rosbag2.read_image_frames(bag)]
    assert sorted(rosbag2.read_detections(out / "outputs_bag", "/detections")) == stamps
    masks = rosbag2.read_masks(out / "outputs_bag", "/lane/mask")
    assert next(iter(masks.values())).shape == SRC_HW


def test_oracle_frame_scores_perfectly(drive: tuple[Path, list[str], Path],
                                       tmp_path: Path, capsys) -> None:
    root, names, model = drive
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(root / "images/100k/val" / names[1], folder / names[1])
    rc = offline.main([str(folder), "--model", str(model), "--out", str(tmp_path / "out"),
                       "--bdd-root", str(root), "--no-progress", "--no-video"])
    assert rc == 0
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert metrics["detection"]["yolop"]["vehicle"]["map50"] == pytest.approx(1.0)
    assert metrics["drivable"]["yolop"]["miou"] == pytest.approx(1.0)
    assert metrics["lane"]["yolop"]["iou"] == pytest.approx(1.0)
    assert "vehicle AP50 1.000" in capsys.readouterr().out


def test_two_inputs_with_one_folder_name_keep_both_results(
        drive: tuple[Path, list[str], Path], tmp_path: Path, monkeypatch, capsys) -> None:
    root, names, model = drive
    monkeypatch.chdir(tmp_path)
    for sub, name in (("a", names[0]), ("b", names[2])):
        (tmp_path / sub / "imgs").mkdir(parents=True)
        shutil.copy(root / "images/100k/val" / name, tmp_path / sub / "imgs" / name)
    rc = offline.main(["a/imgs", "b/imgs", "--model", str(model), "--out", "out", "--no-progress",
                       "--no-video"])
    assert rc == 0
    for sub, name in (("a", names[0]), ("b", names[2])):
        preds = json.loads((tmp_path / "out" / sub / "imgs/predictions.json").read_text())
        assert [p["name"] for p in preds] == [name]
    # inputs that would share a folder are refused before anything runs, in one line
    rc = run_cli("mtl-offline", offline.main,
                 ["a/imgs", "./a/imgs", "--model", str(model), "--out", "out2"])
    err = capsys.readouterr().err
    assert rc == 2 and "would both write" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out2").exists()


def test_saved_predictions_score_like_the_run_that_wrote_them(
        drive: tuple[Path, list[str], Path], tmp_path: Path, capsys) -> None:
    from mtl_perception.training.engine.evaluate import main as eval_main

    root, _names, model = drive
    out = tmp_path / "out"
    assert offline.main([str(root / "images/100k/val"), "--model", str(model), "--out",
                         str(out), "--bdd-root", str(root), "--masks", "--no-progress",
                         "--no-video"]) == 0
    live = json.loads((out / "metrics.json").read_text())
    report = tmp_path / "scored.json"
    assert eval_main(["predictions", "--data", str(root), "--offline", str(out), "--out",
                      str(report)]) == 0
    saved = json.loads(report.read_text())
    assert saved["n_frames"] == live["n_frames"] == {"detection": 3, "drivable": 3, "lane": 3}
    assert saved["drivable"] == live["drivable"] and saved["lane"] == live["lane"]
    for proto, key in (("yolop", "classes"), ("yolop", "vehicle")):
        assert saved["detection"][proto][key]["map50"] == pytest.approx(
            live["detection"][proto][key]["map50"], abs=0.01)  # boxes saved to 0.01 px
    assert saved["detection"]["bdd100k"]["AP"] == pytest.approx(
        live["detection"]["bdd100k"]["AP"], abs=0.01)
    assert saved["skipped"] == {}
    assert "bdd100k: det AP" in capsys.readouterr().out


def test_bad_saved_predictions_are_one_line_or_a_counted_skip(
        drive: tuple[Path, list[str], Path], tmp_path: Path, capsys) -> None:
    import cv2
    import numpy as np

    from mtl_perception.evaluation import score
    root, names, _model = drive
    assert score.main(["--data", str(root), "--masks", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and len(err.strip().splitlines()) == 1
    masks = tmp_path / "masks"
    (masks / "drivable").mkdir(parents=True)
    assert score.main(["--data", str(root), "--masks", str(masks)]) == 1  # empty set
    err = capsys.readouterr().err
    assert "no predictions to score" in err and len(err.strip().splitlines()) == 1
    stem = Path(names[0]).stem
    cv2.imwrite(str(masks / "drivable" / f"{stem}.png"), np.zeros((10, 10), np.uint8))
    cv2.imwrite(str(masks / "drivable" / f"{Path(names[1]).stem}.png"),
                np.zeros(SRC_HW, np.uint8))
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"name": names[0], "labels": [
        {"category": "spaceship", "score": 0.9, "box2d": {"x1": 0, "y1": 0, "x2": 9, "y2": 9}},
        {"category": "car", "score": 0.8, "box2d": {"x1": 0, "y1": 0, "x2": 9, "y2": 9}}]}]))
    assert score.main(["--data", str(root), "--masks", str(masks), "--detections",
                       str(dets)]) == 0
    out = capsys.readouterr().out
    assert '"drivable_wrong_size": 1' in out and '"spaceship": 1' in out
    assert '"frames_without_detections": 2' in out
    assert score.main(["--data", str(tmp_path / "no_root"), "--detections", str(dets)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert score.main(["--data", str(root), "--detections", str(bad)]) == 1
    assert "not a BDD/scalabel frame list" in capsys.readouterr().err


def test_a_bag_with_broken_metadata_is_one_line(
    drive: tuple[Path, list[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _root, _names, model = drive
    bag = tmp_path / "broken"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  version: [oops\n")
    rc = offline.main([str(bag), "--model", str(model), "--out", str(tmp_path / "out"),
                       "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "Traceback" not in err
    assert f"cannot read bag {bag}: Could not load YAML" in err
