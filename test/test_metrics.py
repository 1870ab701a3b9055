"""Metric definitions checked against hand-computed cases and against pycocotools itself."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

from mtl_perception.training.metrics import (
    ConfusionMatrix,
    DetectionRecords,
    coco_detection_metrics,
    detection_metrics,
    drivable_metrics,
    error_breakdown,
    lane_metrics,
)


def test_metrics_module_does_not_import_torch() -> None:
    code = (
        "import sys, mtl_perception.training.metrics as m; "
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_drivable_both_protocols_by_hand() -> None:
    # classes: 0 background, 1 direct, 2 alternative
    gt = np.array([[0, 0, 1, 1, 2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1, 2, 0, 2, 2]])
    conf = ConfusionMatrix(3)
    conf.update(pred, gt)
    m = drivable_metrics(conf)
    # Official 3-class: direct IoU = 2/(3+3-2)... tp=2, gt=3, pred=3 -> 2/4; alt: tp=1, gt=2,
    # pred=2 -> 1/3; background ignored.
    assert m["iou_direct"] == pytest.approx(2 / 4)
    assert m["iou_alternative"] == pytest.approx(1 / 3)
    assert m["miou_official_3class"] == pytest.approx((2 / 4 + 1 / 3) / 2)
    # YOLOP binary: alternative -> background. gt fg = {2,3,7}, pred fg = {1,2,3}.
    # fg IoU = 2 / 4; bg: gt bg = {0,1,4,5}, pred bg = {0,4,5,7} -> inter 3, union 5.
    assert m["iou_drivable_binary"] == pytest.approx(2 / 4)
    assert m["miou_binary_yolop"] == pytest.approx((2 / 4 + 3 / 5) / 2)


def test_two_class_drivable_has_no_official_protocol() -> None:
    conf = ConfusionMatrix(2)
    conf.update(np.array([0, 1, 1]), np.array([0, 1, 0]))
    m = drivable_metrics(conf)
    assert m["miou_official_3class"] is None
    assert m["miou_binary_yolop"] == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_lane_metrics_by_hand() -> None:
    gt = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])
    conf = ConfusionMatrix(2)
    conf.update(pred, gt)
    m = lane_metrics(conf)
    tp, fn, fp, tn = 3, 1, 2, 4
    assert m["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert m["pixel_recall_yolop"] == pytest.approx(tp / (tp + fn))
    assert m["balanced_accuracy"] == pytest.approx((tp / (tp + fn) + tn / (tn + fp)) / 2)


def test_ap50_matches_hand_computed_coco_interpolation() -> None:
    rec = DetectionRecords(["car"])
    gt = np.array([[0, 0, 10, 10], [50, 50, 70, 70]], float)
    dets = np.array([[0, 0, 10, 10], [100, 100, 120, 120], [50, 50, 70, 71]], float)
    rec.add(gt, [0, 0], dets, [0.9, 0.8, 0.7], [0, 0, 0])
    m = coco_detection_metrics(rec)
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
    ours = coco_detection_metrics(rec, max_dets=100)
    gt = {"images": [], "annotations": [], "categories": [{"id": i + 1} for i in range(3)]}
    dets = []
    for i, (gb, gc, db, ds, dc) in enumerate(zip(
        rec.gt_boxes, rec.gt_classes, rec.det_boxes, rec.det_scores, rec.det_classes, strict=True
    )):
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
    m = detection_metrics(rec)
    assert m["classes"]["ap50_per_class"]["car"] == pytest.approx(0.0)
    assert m["classes"]["ap50_per_class"]["pedestrian"] == pytest.approx(1.0)
    assert m["vehicle"]["map50"] == pytest.approx(1.0)


def test_no_detections_scores_zero_not_crash() -> None:
    rec = DetectionRecords(["car"])
    rec.add([[0, 0, 10, 10]], [0], np.zeros((0, 4)), [], [])
    m = coco_detection_metrics(rec)
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
    assert detection_metrics(rec)["classes"]["errors"] == e
