"""Confidence filter, class-wise NMS, max detections, class filter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mtl_perception.inference.letterbox import Letterbox, upscale_uint8
from mtl_perception.inference.postprocess import (
    Thresholds,
    best_class,
    best_score,
    masks_to_source,
    nms,
    postprocess_detections,
    resolve_classes,
)

IDENTITY = Letterbox.fit((100, 100), (100, 100))


def test_nms_suppresses_same_class_only() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    ids = np.array([0, 0, 1, 0])
    keep = nms(boxes, scores, ids, iou=0.5, max_det=10)
    assert keep.tolist() == [0, 2, 3], "box 1 overlaps box 0 (same class); box 2 is another class"
    assert nms(boxes, scores, ids, iou=0.5, max_det=2).tolist() == [0, 2]
    assert nms(boxes, scores, np.zeros(4, int), iou=0.5, max_det=10).tolist() == [0, 3]


def test_nms_iou_threshold_is_respected() -> None:
    # IoU of these two = 50/150 = 0.333
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    scores = np.array([0.9, 0.8])
    ids = np.zeros(2, int)
    assert nms(boxes, scores, ids, iou=0.3, max_det=10).tolist() == [0]
    assert nms(boxes, scores, ids, iou=0.34, max_det=10).tolist() == [0, 1]


def test_postprocess_filters_and_orders() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    scores = np.array([[0.1, 0.3], [0.95, 0.0], [0.0, 0.2]], np.float32)
    det = postprocess_detections(boxes, scores, IDENTITY, Thresholds(0.25, 0.5, 10), ["a", "b"])
    assert det.class_names == ["a", "b"]
    np.testing.assert_allclose(det.scores, [0.95, 0.3])
    only_b = Thresholds(0.15, 0.5, 10, classes=(1,))
    det = postprocess_detections(boxes, scores, IDENTITY, only_b, ["a", "b"])
    assert det.class_names == ["b", "b"] and det.boxes[1].tolist() == [40, 40, 50, 50]
    empty = postprocess_detections(boxes, scores, IDENTITY, Thresholds(0.99, 0.5, 10), ["a", "b"])
    assert len(empty) == 0 and empty.boxes.shape == (0, 4)


def test_thresholds_validate() -> None:
    for bad in [dict(confidence=-0.1), dict(iou=0.0), dict(max_detections=0)]:
        with pytest.raises(ValueError):
            Thresholds(**bad)
    assert resolve_classes(["car", "0"], ["pedestrian", "car"]) == (0, 1)
    assert resolve_classes([], ["a"]) is None
    with pytest.raises(ValueError, match="outside"):
        resolve_classes([5], ["a"])


@pytest.mark.parametrize("source_hw", [(720, 1280), (1080, 1920), (700, 1000)])
@pytest.mark.parametrize("network_hw", [(384, 640), (256, 384)])
def test_mask_to_source_equals_opencv_nearest_resize(source_hw: tuple[int, int],
                                                     network_hw: tuple[int, int]) -> None:
    """The widening fast path (whole-number factors) and cv2.resize agree pixel for pixel."""
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 3, network_hw, dtype=np.uint8)
    for src in [source_hw, (network_hw[0] * 4 - 64, network_hw[1] * 4)]:
        geometry = Letterbox.fit(src, network_hw)
        crop = mask[geometry.offset_y:geometry.offset_y + geometry.resized_height,
                    geometry.offset_x:geometry.offset_x + geometry.resized_width]
        want = cv2.resize(crop, (src[1], src[0]), interpolation=cv2.INTER_NEAREST)
        np.testing.assert_array_equal(geometry.mask_to_source(mask), want)
        out = np.full(src, 9, np.uint8)
        assert geometry.mask_to_source(mask, out) is out
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_whole_number_upscale_matches_opencv(factor: int) -> None:
    src = np.random.default_rng(2).integers(0, 256, (37, 53), dtype=np.uint8)
    out = np.empty((37 * factor, 53 * factor), np.uint8)
    upscale_uint8(src, factor, out)
    np.testing.assert_array_equal(
        out, cv2.resize(src, (53 * factor, 37 * factor), interpolation=cv2.INTER_NEAREST))
    geometry = Letterbox.fit((360 * factor, 640 * factor), (384, 640))
    assert geometry.integer_factor == factor
    assert Letterbox.fit((1080, 1920), (384, 640)).integer_factor == 3  # cv2 path
    with pytest.raises(ValueError, match="not one of"):
        upscale_uint8(src, 3, np.empty((111, 159), np.uint8))


@pytest.mark.parametrize("top", [3, 40])  # 40 does not fit a nibble: the two-resize fallback
@pytest.mark.parametrize("source_hw", [(720, 1280), (1080, 1920)])  # fast path, packed resize
def test_paired_mask_resize_equals_two_resizes(top: int, source_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    geometry = Letterbox.fit(source_hw, (384, 640))
    drivable = rng.integers(0, top, (384, 640), dtype=np.uint8)
    lane = rng.integers(0, 2, (384, 640), dtype=np.uint8)
    out = (np.full(source_hw, 7, np.uint8), np.full(source_hw, 7, np.uint8))
    a, b = masks_to_source(drivable, lane, geometry, out)
    assert a is out[0] and b is out[1]
    np.testing.assert_array_equal(a, geometry.mask_to_source(drivable))
    np.testing.assert_array_equal(b, geometry.mask_to_source(lane))
    fresh = masks_to_source(drivable, lane, geometry)
    np.testing.assert_array_equal(fresh[0], a)
    np.testing.assert_array_equal(fresh[1], b)


def test_paired_mask_resize_rejects_wrong_buffers() -> None:
    geometry = Letterbox.fit((720, 1280), (384, 640))
    mask = np.zeros((384, 640), np.uint8)
    for geo in (geometry, Letterbox.fit((1080, 1920), (384, 640))):
        with pytest.raises(ValueError, match=r"(does|do) not match"):
            masks_to_source(mask, mask, geo, (np.zeros((10, 10), np.uint8),) * 2)
    with pytest.raises(ValueError, match="uint8 HxW"):
        masks_to_source(mask.astype(np.int32), mask, geometry)


@pytest.mark.parametrize("classes", [None, (1, 3)])
def test_best_score_equals_the_per_row_maximum(classes: tuple[int, ...] | None) -> None:
    scores = np.random.default_rng(2).random((500, 4)).astype(np.float32)
    allowed = list(range(4)) if classes is None else list(classes)
    np.testing.assert_array_equal(best_score(scores, classes), scores[:, allowed].max(axis=1))
    ids, best = best_class(scores, classes)
    np.testing.assert_array_equal(best, best_score(scores, classes))
    assert set(np.unique(ids)) <= set(allowed)
