"""Augmentation keeps image, boxes and masks consistent; lane masks have the asked width."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_perception.training.data import (
    Augment,
    AugmentConfig,
    apply_affine,
    hflip,
    rasterize_lanes,
    scaled_lane_width,
)

H, W = 96, 160


def _sample(rng: np.random.Generator) -> dict:
    """Random image; two objects whose box regions are painted in the image and both masks."""
    image = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    drivable = rng.integers(0, 3, size=(H, W), dtype=np.uint8)
    lane = np.zeros((H, W), np.uint8)
    boxes = np.array([[20, 30, 60, 70], [100, 10, 130, 40]], np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        image[y1:y2, x1:x2] = (250, 10 + 100 * i, 10)
        drivable[y1:y2, x1:x2] = 7 + i
        lane[y1:y2, x1:x2] = 1
    return {"image": image, "boxes": boxes, "classes": np.array([3, 5]), "drivable": drivable,
            "lane": lane}


def test_flip_twice_is_identity() -> None:
    s = _sample(np.random.default_rng(0))
    once = hflip(s)
    assert not np.array_equal(once["image"], s["image"])
    np.testing.assert_allclose(once["boxes"][0], [W - 60, 30, W - 20, 70])
    twice = hflip(once)
    for key in ("image", "drivable", "lane"):
        np.testing.assert_array_equal(twice[key], s[key])
    np.testing.assert_allclose(twice["boxes"], s["boxes"])
    assert twice["classes"].tolist() == [3, 5]


@pytest.mark.parametrize("seed", range(6))
def test_random_geometry_moves_boxes_with_their_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = _sample(rng)
    aug = Augment(AugmentConfig(flip=0.5, scale=(0.6, 1.4), translate=0.15, min_visible=0.3))
    out = aug(s, rng)
    assert out["image"].shape == (H, W, 3) and out["drivable"].shape == (H, W)
    for box, cls in zip(out["boxes"], out["classes"], strict=True):
        i = [3, 5].index(int(cls))
        ys, xs = np.nonzero(out["drivable"] == 7 + i)
        assert len(xs) > 0
        # The (clipped) box and the mask region it came from agree to within a pixel.
        np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box, atol=1.0)
        assert (out["lane"][ys, xs] == 1).all()
    # Objects pushed (almost) out of the frame are dropped, never kept as slivers.
    for i in range(2):
        if i not in [[3, 5].index(int(c)) for c in out["classes"]]:
            assert np.count_nonzero(out["drivable"] == 7 + i) < 0.3 * 40 * 40


def test_geometry_scales_lane_polylines_and_width() -> None:
    s = {"image": np.zeros((H, W, 3), np.uint8), "lane_polylines": [np.array([[80.0, 90.0],
                                                                              [80.0, 10.0]])],
         "lane_width": 4.0}
    m = np.array([[2.0, 0.0, -80.0], [0.0, 2.0, -48.0]])  # zoom x2 about the centre
    out = apply_affine(s, m)
    assert out["lane_width"] == pytest.approx(8.0)
    mask = rasterize_lanes(out["lane_polylines"], (H, W), out["lane_width"])
    cols = np.flatnonzero(mask[48])
    assert len(cols) == 8 and abs(cols.mean() - 80.5) <= 1.0


@pytest.mark.parametrize(("width", "expected"), [(1.0, 1), (2.0, 2), (4.0, 4), (8.0, 8)])
def test_lane_width_is_exact_for_axis_aligned_lines(width: float, expected: int) -> None:
    m = rasterize_lanes([np.array([[50.0, 95.0], [50.0, 5.0]]), np.array([[5.0, 20.0],
                                                                        [95.0, 20.0]])],
                        (100, 100), width)
    assert int(m[60].sum()) == expected  # across the vertical line
    assert int(m[:, 80].sum()) == expected  # across the horizontal line


def test_lane_width_scales_with_image_size() -> None:
    assert scaled_lane_width(8.0, 1280) == 8.0
    assert scaled_lane_width(8.0, 640) == 4.0
    diag = rasterize_lanes([np.array([[10.0, 10.0], [190.0, 190.0]])], (200, 200), 6.0)
    # Area of a 6 px band along a diagonal of length 180*sqrt(2): about 6 px per unit length.
    assert abs(diag.sum() / (180 * np.sqrt(2)) - 6.0) < 0.8


def test_hsv_jitter_changes_only_the_image() -> None:
    rng = np.random.default_rng(3)
    s = _sample(rng)
    out = Augment(AugmentConfig(flip=0.0, scale=(1.0, 1.0), translate=0.0,
                                hsv=(0.5, 0.9, 0.9)))(s, rng)
    np.testing.assert_array_equal(out["drivable"], s["drivable"])
    np.testing.assert_allclose(out["boxes"], s["boxes"])
    assert not np.array_equal(out["image"], s["image"])
