"""Every protocol checked against hand-computed cases (and pycocotools against itself)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

from mtl_perception.common.classes import BDD_CLASSES
from mtl_perception.common.types import BoxLabel
from mtl_perception.evaluation.detection import (
    DetectionRecords,
    bdd100k_detection,
    error_breakdown,
    yolop_block,
    yolop_detection,
)
from mtl_perception.evaluation.drivable import drivable_confusion, drivable_metrics
from mtl_perception.evaluation.evaluator import Evaluator, FrameTruth
from mtl_perception.evaluation.lane import LaneScores, boundary_f


def test_evaluation_package_does_not_import_torch() -> None:
    code = ("import sys, mtl_perception.evaluation.evaluator; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def _drivable(model_classes: int, *frames: tuple[list[int], list[int]]) -> dict:
    conf = drivable_confusion(model_classes)
    for pred, gt in frames:
        conf.update(np.array(pred), np.array(gt))
    return drivable_metrics(conf)


def test_drivable_protocols_by_hand() -> None:
    # gt: 0 background, 1 direct, 2 alternative, 255 unlabelled (pixel 6)
    gt = [0, 0, 1, 1, 2, 2, 255, 1]
    pred = [0, 1, 1, 1, 2, 0, 2, 2]
    m = _drivable(3, (pred, gt))
    # yolop: alternative is background on both sides. gt fg {2,3,7}, pred fg {1,2,3}: 2/4;
    # bg: gt {0,1,4,5}, pred {0,4,5,7}: 3/5.
    assert m["yolop"]["iou_drivable"] == pytest.approx(2 / 4)
    assert m["yolop"]["miou"] == pytest.approx((2 / 4 + 3 / 5) / 2)
    # bdd100k: pixels 0 and 1 (gt background) leave the matrix, so pixel 1's "direct" is no
    # false positive. direct: tp 2, gt 3, pred 2 -> 2/3; alternative: tp 1, gt 2, pred 2 -> 1/3.
    assert m["bdd100k"]["iou_direct"] == pytest.approx(2 / 3)
    assert m["bdd100k"]["iou_alternative"] == pytest.approx(1 / 3)
    assert m["bdd100k"]["miou"] == pytest.approx(0.5)
    # merged: gt fg {2,3,4,5,7}, pred fg {1,2,3,4,7}: 4/6; bg: gt {0,1}, pred {0,5}: 1/3.
    assert m["merged"]["miou"] == pytest.approx((4 / 6 + 1 / 3) / 2)


def test_drivable_direct_only_prediction_scores_the_same_with_2_and_3_classes() -> None:
    gt = [1, 1, 2, 2, 0, 0]  # direct, direct, alternative, alternative, background x2
    pred = [1, 1, 0, 0, 0, 0]  # drivable exactly where direct is (both models' id 1)
    three, two = _drivable(3, (pred, gt)), _drivable(2, (pred, gt))
    assert three["yolop"]["miou"] == pytest.approx(1.0)
    assert two["yolop"]["miou"] == pytest.approx(1.0)  # drivable = direct only, always
    assert three["merged"]["miou"] == pytest.approx(0.5) == two["merged"]["miou"]
    assert three["bdd100k"]["miou"] == pytest.approx(0.5)  # direct 1, alternative 0
    assert two["bdd100k"] is None  # a 2-class model cannot tell direct from alternative
    # a 2-class model's merged "drivable" column is direct + alternative
    assert _drivable(2, ([1, 1, 1, 1, 0, 0], gt))["merged"]["miou"] == pytest.approx(1.0)


def test_background_only_frame_leaves_bdd100k_drivable_unchanged() -> None:
    labelled = ([1, 1, 0, 2], [1, 0, 0, 2])
    background = ([1, 1, 1, 1], [0, 0, 0, 0])  # no drivable gt, all predicted direct
    alone, both = _drivable(3, labelled), _drivable(3, labelled, background)
    assert both["bdd100k"] == alone["bdd100k"]
    assert both["yolop"]["miou"] < alone["yolop"]["miou"]
    only = _drivable(3, background)
    assert only["bdd100k"]["miou"] is None and only["bdd100k"]["classes_in_gt"] == []
    assert only["yolop"]["iou_background"] == 0.0 and only["yolop"]["iou_drivable"] == 0.0


def test_all_background_prediction() -> None:
    m = _drivable(3, ([0, 0, 0, 0], [1, 2, 0, 0]))
    assert m["bdd100k"]["miou"] == 0.0
    assert m["yolop"]["iou_drivable"] == 0.0
    assert m["yolop"]["iou_background"] == pytest.approx(3 / 4)  # alternative is background
    lane = LaneScores()
    lane.update(np.zeros((4, 4), np.uint8), np.eye(4, dtype=np.uint8))
    r = lane.result()
    assert r["yolop"]["iou"] == 0.0 and r["yolop"]["pixel_recall"] == 0.0
    assert r["hybridnets"]["balanced_accuracy"] == pytest.approx(0.5)
    assert r["bdd100k"]["f_1px"] == 0.0  # bdd100k: precision 1, recall 0
    empty = LaneScores()  # background-only gt, background prediction: F 1, IoU undefined
    empty.update(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))
    assert empty.result()["bdd100k"]["f_5px"] == 1.0 and empty.result()["yolop"]["iou"] is None


def test_lane_pixel_protocols_by_hand() -> None:
    gt = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])
    lane = LaneScores()
    lane.update(pred.reshape(2, 5), gt.reshape(2, 5))
    m = lane.result()
    tp, fn, fp, tn = 3, 1, 2, 4
    assert m["yolop"]["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert m["yolop"]["pixel_recall"] == pytest.approx(tp / (tp + fn))
    assert m["hybridnets"]["balanced_accuracy"] == pytest.approx(
        (tp / (tp + fn) + tn / (tn + fp)) / 2)


def test_lane_boundary_f_by_hand() -> None:
    gt = np.zeros((10, 12), bool)
    gt[:, 5] = True  # a 10 px vertical line
    shifted = np.roll(gt, 2, axis=1)  # 2 px to the right
    assert boundary_f(gt, shifted, 1) == 0.0  # a disk of radius 1 reaches 1 px sideways
    assert boundary_f(gt, shifted, 2) == 1.0
    half = gt.copy()
    half[5:] = False  # rows 0-4: precision 1; recall = gt rows within r of row 4
    assert boundary_f(gt, half, 1) == pytest.approx(2 * 0.6 / 1.6)
    assert boundary_f(gt, half, 2) == pytest.approx(2 * 0.7 / 1.7)
    assert boundary_f(gt, half, 5) == 1.0
    # per frame, then averaged over frames (not pooled pixels)
    lane = LaneScores()
    lane.update(shifted.astype(np.uint8), gt.astype(np.uint8))
    lane.update(half.astype(np.uint8), gt.astype(np.uint8))
    assert lane.result()["bdd100k"]["f_2px"] == pytest.approx((1.0 + 2 * 0.7 / 1.7) / 2)


def _bdd_records(gt: list, crowd: list, dets: list, scores: list) -> DetectionRecords:
    rec = DetectionRecords(list(BDD_CLASSES))
    car = BDD_CLASSES.index("car")
    rec.add(np.array(gt, float), [car] * len(gt), np.array(dets, float), scores,
            [car] * len(dets), crowd)
    return rec


def test_crowd_box_with_a_detection_inside() -> None:
    gt = [[0, 0, 100, 100], [200, 200, 300, 300]]
    dets = [[210, 210, 260, 260], [0, 0, 100, 100]]  # inside the crowd box, then exact
    rec = _bdd_records(gt, [False, True], dets, [0.95, 0.9])
    # bdd100k: the crowd box is an ignore region; the detection inside it is neither TP nor FP
    b = bdd100k_detection(rec)
    assert b["AP"] == pytest.approx(1.0) and b["AP50"] == pytest.approx(1.0)
    assert b["n_crowd"] == 1
    # yolop: the crowd box is ordinary gt (IoU 0.25 with the detection: an FP ranked first),
    # FP then TP: precision 0.5 up to recall 0.5 -> 51 of 101 recall points at 0.5
    y = yolop_block(rec)
    assert y["map50"] == pytest.approx(51 * 0.5 / 101)


def test_box_on_the_image_border_uses_scalabels_plus_one() -> None:
    # a 10 x 10 px box (x2 - x1 + 1) in the bottom-right corner of a 1280 x 720 frame; the
    # detection is 1 px smaller each way: IoU 81/100 = 0.81 with +1, 64/81 = 0.79 without
    rec = _bdd_records([[1270, 710, 1279, 719]], [False], [[1271, 711, 1279, 719]], [0.9])
    b = bdd100k_detection(rec)
    assert b["AP"] == pytest.approx(7 / 10)  # matches at IoU 0.5 ... 0.8
    assert b["AP50"] == pytest.approx(1.0) and b["AP75"] == pytest.approx(1.0)
    assert yolop_block(rec)["map50_95"] == pytest.approx(6 / 10)  # 0.5 ... 0.75


def test_evaluator_reads_crowd_and_scores_bdd_classes_by_name() -> None:
    ev = Evaluator(["vehicle", "pedestrian"])
    truth = FrameTruth([BoxLabel(0, 0, 50, 50, "car"), BoxLabel(100, 100, 200, 200, "car",
                                                                 crowd=True)],
                       None, None, [False, True])
    ev.add(truth, [BoxLabel(0, 0, 50, 50, "vehicle", 0.9),
                   BoxLabel(120, 120, 150, 150, "vehicle", 0.95)], None, None)
    r = ev.result()
    assert r["detection"]["yolop"]["vehicle"]["n_gt"] == 2  # crowd counts as gt for yolop
    # bdd100k scores "car" by name: a merged-vehicle model has no car detections
    assert r["detection"]["bdd100k"]["ap_per_class"]["car"] == 0.0
    assert r["detection"]["bdd100k"]["n_crowd"] == 1


def test_ap50_matches_hand_computed_coco_interpolation() -> None:
    rec = DetectionRecords(["car"])
    gt = np.array([[0, 0, 10, 10], [50, 50, 70, 70]], float)
    dets = np.array([[0, 0, 10, 10], [100, 100, 120, 120], [50, 50, 70, 71]], float)
    rec.add(gt, [0, 0], dets, [0.9, 0.8, 0.7], [0, 0, 0])
    m = yolop_block(rec)
    # Ranked TP, FP, TP: precision 1 up to recall 0.5, then 2/3 up to recall 1.
    # COCO samples 101 recall points: 51 at <= 0.5 and 50 above.
    assert m["map50"] == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101, abs=1e-6)
    assert m["recall50"] == pytest.approx(1.0)
    # At IoU 0.95 the third box (IoU 20/21 = 0.952) still matches; 0.5:0.95 < 0.5 value
    # only if some threshold fails, which it does not here.
    assert m["map50_95"] == pytest.approx(m["map50"], abs=1e-6)


def _random_records(rng: np.random.Generator, names: list[str]) -> DetectionRecords:
    rec = DetectionRecords(names)
    for _ in range(12):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 300, (n, 2))
        wh = rng.uniform(10, 80, (n, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        cls = rng.integers(0, len(names), n)
        noisy = gt + rng.normal(0, 4, gt.shape)
        extra = np.concatenate([rng.uniform(0, 300, (3, 2)), rng.uniform(0, 300, (3, 2)) + 20], 1)
        dets = np.concatenate([noisy, extra])
        dcls = np.concatenate([cls, rng.integers(0, len(names), 3)])
        rec.add(gt, cls, dets, rng.uniform(0.01, 1, len(dets)), dcls)
    return rec


def test_map_agrees_with_pycocotools_summarize() -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rec = _random_records(np.random.default_rng(3), ["car", "truck", "pedestrian"])
    ours = yolop_block(rec, max_dets=100)
    gt = {"images": [], "annotations": [], "categories": [{"id": i + 1} for i in range(3)]}
    dets = []
    for i, (gb, gc, _crowd, db, ds, dc) in enumerate(rec.frames()):
        gt["images"].append({"id": i + 1})
        for b, c in zip(gb, gc, strict=True):
            w, h = b[2] - b[0], b[3] - b[1]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i + 1,
                                      "category_id": int(c) + 1, "bbox": [b[0], b[1], w, h],
                                      "area": w * h, "iscrowd": 0})
        for b, s, c in zip(db, ds, dc, strict=True):
            dets.append({"image_id": i + 1, "category_id": int(c) + 1, "score": float(s),
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ours["map50_95"] == pytest.approx(ev.stats[0], abs=1e-9)
    assert ours["map50"] == pytest.approx(ev.stats[1], abs=1e-9)
    assert 0.2 < ours["map50"] < 1.0  # a non-trivial case


def test_vehicle_merge_forgives_confusions_between_vehicle_classes() -> None:
    rec = DetectionRecords(["pedestrian", "car", "truck"])
    rec.add([[0, 0, 20, 20], [40, 40, 80, 80]], [1, 0],
            [[0, 0, 20, 20], [40, 40, 80, 80]], [0.9, 0.8], [2, 0])  # car predicted as truck
    m = yolop_detection(rec)
    assert m["classes"]["ap50_per_class"]["car"] == pytest.approx(0.0)
    assert m["classes"]["ap50_per_class"]["pedestrian"] == pytest.approx(1.0)
    assert m["vehicle"]["map50"] == pytest.approx(1.0)


def test_no_detections_scores_zero_not_crash() -> None:
    rec = DetectionRecords(["car"])
    rec.add([[0, 0, 10, 10]], [0], np.zeros((0, 4)), [], [])
    m = yolop_block(rec)
    assert m["map50"] == 0.0 and m["n_gt"] == 1


def test_error_breakdown_sorts_confident_detections_by_what_they_hit() -> None:
    rec = DetectionRecords(["car", "pedestrian"])
    gt = [[0, 0, 100, 100], [200, 200, 300, 300], [400, 0, 440, 40]]
    dets = [
        [0, 0, 100, 100],      # 0.9: takes gt 0
        [0, 0, 100, 90],       # 0.8: IoU 0.9 with the taken gt 0 -> duplicate
        [200, 200, 300, 240],  # 0.7: IoU 0.4 with gt 1 -> poorly localized
        [600, 600, 650, 650],  # 0.6: touches nothing -> background
        [400, 0, 440, 40],     # 0.5: right place, wrong class (pedestrian) -> background
        [200, 200, 300, 300],  # 0.2: would take gt 1, but below the 0.3 threshold
    ]
    rec.add(gt, [0, 0, 0], dets, [0.9, 0.8, 0.7, 0.6, 0.5, 0.2], [0, 0, 0, 0, 1, 0])
    e = error_breakdown(rec)
    assert (e["true_positive"], e["duplicate"], e["poor_localization"], e["background"]) == \
        (1, 1, 1, 2)
    assert e["missed"] == 2 and e["conf_threshold"] == 0.3
    assert error_breakdown(rec, conf=0.1)["true_positive"] == 2
    # detection_metrics carries it for the classes and for merged vehicle
    assert yolop_detection(rec)["classes"]["errors"] == e
