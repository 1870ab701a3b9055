"""The tools' BDD JSON reader and the dataset parser keep and drop the same labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mtl_perception.common.classes import BDD_CLASSES, class_index
from mtl_perception.io import bdd_json
from mtl_perception.io.bdd_labels import LabelStats, parse_det_frame

FRAME = {
    "name": "a.jpg",
    "labels": [
        {"category": "car", "box2d": {"x1": 10, "y1": 20, "x2": 110, "y2": 80}},
        {"category": "person", "box2d": {"x1": 5, "y1": 5, "x2": 15, "y2": 40}},  # old name
        {"category": "bus", "box2d": {"x1": 50, "y1": 50, "x2": 50, "y2": 90}},  # zero width
        {"category": "truck", "box2d": {"x1": "nan", "y1": 0, "x2": 9, "y2": 9}},
        {"category": "rider", "box2d": {"x1": 1, "y1": 1}},  # incomplete
        {"category": "lane", "poly2d": [{"vertices": [[0, 0], [5, 5]], "types": "LL"}]},
        {"category": "bicycle", "box2d": {"x1": 0, "y1": 0, "x2": 30, "y2": 30},
         "attributes": {"crowd": True}},
    ],
}


def test_tool_reader_matches_the_dataset_parser(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([FRAME]))
    boxes = bdd_json.load_labels(path)["a.jpg"]
    xyxy, classes, crowd = parse_det_frame(FRAME, class_index(BDD_CLASSES), LabelStats())

    assert [b.label for b in boxes] == [BDD_CLASSES[c] for c in classes]
    assert [b.label for b in boxes] == ["car", "pedestrian", "bicycle"]
    np.testing.assert_allclose([[b.x1, b.y1, b.x2, b.y2] for b in boxes], xyxy)
    assert [b.crowd for b in boxes] == list(crowd) == [False, False, True]
