"""BddDataset on a tiny fixture in BDD100K's exact official layout, written here by hand."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_perception.common.constants import IGNORE_INDEX as IGNORE
from mtl_perception.training.data import BddDataset, collate, poly2d_points

W, H = 256, 144  # 16:9 like BDD's 1280x720, small so the test is fast


def _frame_det(name: str, labels: list[dict]) -> dict:
    return {"name": name, "attributes": {"weather": "clear", "timeofday": "daytime",
                                         "scene": "city street"},
            "timestamp": 10000, "labels": labels}


def _box_label(i: int, cat: str, box: dict | None) -> dict:
    lab = {"id": str(i), "category": cat,
           "attributes": {"occluded": False, "truncated": False, "trafficLightColor": "NA"}}
    if box is not None:
        lab["box2d"] = box
    return lab


def _lane_label(i: int, verts: list, types: str, direction: str = "parallel") -> dict:
    return {"id": str(i), "category": "single white",
            "attributes": {"laneDirection": direction, "laneStyle": "solid",
                           "laneTypes": "single white"},
            "poly2d": [{"vertices": verts, "types": types, "closed": False}]}


@pytest.fixture()
def bdd_root(tmp_path: Path) -> Path:
    img_dir = tmp_path / "images" / "100k" / "val"
    mask_dir = tmp_path / "labels" / "drivable" / "masks" / "val"
    for d in (img_dir, mask_dir, tmp_path / "labels" / "det_20",
              tmp_path / "labels" / "lane" / "polygons"):
        d.mkdir(parents=True)
    names = ["a0000001-00000001.jpg", "b0000002-00000002.jpg", "c0000003-00000003.jpg"]
    for n in names:
        img = np.full((H, W, 3), 90, np.uint8)
        cv2.imwrite(str(img_dir / n), img)
    # Drivable PNGs in BDD ids: rows 0-47 background (2), 48-95 alternative (1), 96+ direct (0).
    png = np.full((H, W), 2, np.uint8)
    png[48:96] = 1
    png[96:] = 0
    for n in names[:2]:  # the third frame has no drivable mask
        cv2.imwrite(str(mask_dir / (Path(n).stem + ".png")), png)
    det = [
        _frame_det(names[0], [
            _box_label(0, "car", {"x1": 10.0, "y1": 20.0, "x2": 74.0, "y2": 60.0}),
            _box_label(1, "pedestrian", {"x1": 100, "y1": 30, "x2": 110, "y2": 70}),
            _box_label(2, "truck", None),  # malformed: no box2d
            _box_label(3, "bus", {"x1": 50, "y1": 50, "x2": 40, "y2": 60}),  # malformed: x2<x1
            _box_label(4, "other vehicle", {"x1": 1, "y1": 1, "x2": 5, "y2": 5}),  # real, ignored
        ]),
        {"name": names[1], "attributes": {}, "timestamp": 10000},  # real det_20: no labels key
        _frame_det(names[2], [_box_label(0, "bus", {"x1": 0, "y1": 0, "x2": 128, "y2": 72})]),
    ]
    lane = [
        {"name": names[0], "labels": [
            _lane_label(0, [[128.0, 143.0], [128.0, 72.0]], "LL"),
            _lane_label(1, [[20.0, 140.0], [40.0, 100.0], [60.0, 100.0], [80.0, 140.0]], "LCCL"),
            _lane_label(2, [[5.0, 5.0]], "L"),  # malformed: one vertex
        ]},
        {"name": names[1]},  # listed, no labels: annotated, and no lanes present
        # names[2] is absent from the lane file: no lane annotation for that frame
    ]
    (tmp_path / "labels" / "det_20" / "det_val.json").write_text(json.dumps(det))
    (tmp_path / "labels" / "lane" / "polygons" / "lane_val.json").write_text(json.dumps(lane))
    return tmp_path


def test_reads_official_layout_and_skips_bad_labels(
    bdd_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "mtl-data"):
        ds = BddDataset(bdd_root, "val", input_size=(288, 512))
    warned = [r.getMessage() for r in caplog.records if r.name == "mtl-data"]
    assert len(warned) == 1 and "2 malformed boxes; 1 malformed lanes" in warned[0]
    assert warned[0].startswith(f"data {bdd_root}, split val: skipped")
    assert ds.stats.malformed_boxes == 2 and ds.stats.malformed_lanes == 1
    assert len(ds) == 3
    s = ds[0]
    assert s["image"].shape == (288, 512, 3) and s["image"].dtype == np.uint8
    # 256x144 -> 512x288: scale 2, no padding. car=2, pedestrian=0 in BDD's 10-class order.
    np.testing.assert_allclose(s["boxes"], [[20, 40, 148, 120], [200, 60, 220, 140]])
    assert s["classes"].tolist() == [2, 0]
    # Drivable remapped to ours: background 0, direct 1, alternative 2.
    assert s["drivable"][10, 10] == 0 and s["drivable"][150, 10] == 2
    assert s["drivable"][250, 10] == 1
    assert s["has_det"] and s["has_drivable"] and s["has_lane"]
    # Vertical lane at x=128 -> x=256 at 2x; 8 px at 1280 wide -> 8*256/1280*2 = 3.2 px wide.
    row = s["lane"][200]
    assert row[255:258].tolist() == [1, 1, 1] and int(row[240:270].sum()) == 3
    # The Bezier lane (LCCL) is drawn through its curve, not along its control polygon.
    curve = poly2d_points({"vertices": [[20, 140], [40, 100], [60, 100], [80, 140]],
                           "types": "LCCL"})
    top = curve[np.argmin(curve[:, 1])]
    assert top[1] == pytest.approx(110.0, abs=0.5)  # cubic apex: 0.25*140+0.75*100
    assert s["lane"][round(top[1] * 2), round(top[0] * 2)] == 1
    assert s["lane"][200, 80] == 0  # the control point (40, 100) itself stays unpainted


def test_missing_targets_are_flagged_not_fatal(bdd_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = BddDataset(bdd_root, "val", input_size=(288, 512), classes="vehicle")
    s1, s2 = ds[1], ds[2]
    assert s1["has_det"] and len(s1["boxes"]) == 0  # frame without a labels key: no objects
    assert s1["has_lane"] and s1["lane"].max() == 0  # listed with no lanes: a real empty mask
    assert not s2["has_drivable"] and (s2["drivable"] == IGNORE).all()
    assert not s2["has_lane"] and (s2["lane"] == IGNORE).all()
    assert s2["classes"].tolist() == [0]  # bus merged into "vehicle"
    batch = collate([s1, s2])
    assert batch["image"].shape == (2, 288, 512, 3) and str(batch["image"].dtype) == "torch.uint8"
    assert batch["drivable"].shape == (2, 288, 512) and str(batch["lane"].dtype) == "torch.int64"
    assert batch["has_lane"].tolist() == [True, False]
    assert [len(b) for b in batch["boxes"]] == [0, 1]


def test_letterbox_pads_non_matching_aspect(bdd_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = BddDataset(bdd_root, "val", input_size=(256, 256))
    s = ds[0]
    # 256x144 fits 256 wide at scale 1 with (256-144)/2 = 56 rows of padding on top.
    np.testing.assert_allclose(s["boxes"][0], [10, 76, 74, 116])
    assert (s["image"][:56] == 114).all() and (s["drivable"][:56] == 0).all()
    assert (s["lane"][:56] == 0).all()
