"""MultiTaskNet: shapes, dtypes, parameter budgets, decode/target consistency, recipes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mtl_perception.training.config.recipe import (
    DEFAULTS,
    RecipeError,
    category_to_class,
    normalize_recipe,
)
from mtl_perception.training.loss.targets import build_targets
from mtl_perception.training.model.anchors import anchor_recall, kmeans_anchors
from mtl_perception.training.model.network import build_model, load_recipe

CONFIGS = Path(__file__).resolve().parents[1] / "config" / "models"


def _recipe(backbone: str, hw: tuple[int, int], **extra: object) -> dict:
    return normalize_recipe({"backbone": {"name": backbone, "pretrained": False},
                             "input_size": list(hw), **extra})


@pytest.mark.parametrize(
    ("backbone", "hw"),
    [("mobilenetv2", (96, 160)), ("mobilenetv2", (128, 224)),
     ("resnet50", (64, 96)), ("resnet50", (96, 64))],
)
def test_forward_shapes_and_dtypes(backbone: str, hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(_recipe(backbone, hw)).eval()
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        out = model(x)
        boxes, scores = model.decode(out["det"])
    c = len(model.class_names)
    assert c == 10
    for p, s in zip(out["det"], model.strides, strict=True):
        assert p.shape == (2, 3 * (5 + c), hw[0] // s, hw[1] // s) and p.dtype == torch.float32
    assert out["drivable"].shape == (2, 3, *hw)
    assert out["lane"].shape == (2, 2, *hw)
    a = sum(3 * (hw[0] // s) * (hw[1] // s) for s in model.strides)
    assert boxes.shape == (2, a, 4) and scores.shape == (2, a, c)
    assert scores.min() >= 0 and scores.max() <= 1
    assert model.anchors.shape == (3, 3, 2) and model.anchors.dtype == torch.float32
    assert model.input_size == hw


@pytest.mark.parametrize(
    ("name", "paper_m"), [("mobilenetv2_bifpn", 5.4), ("resnet50_bifpn", 27.6)]
)
def test_param_counts_within_15_percent_of_paper(name: str, paper_m: float) -> None:
    recipe = load_recipe(CONFIGS / f"{name}.yaml")
    recipe["backbone"]["pretrained"] = False
    n = sum(p.numel() for p in build_model(recipe).parameters()) / 1e6
    assert abs(n - paper_m) / paper_m <= 0.15, n


def test_decode_inverts_target_assignment() -> None:
    """Set the logits a positive anchor should learn; decode must give back the box."""
    model = build_model(_recipe("mobilenetv2", (128, 192), classes=["vehicle"])).eval()
    shapes = [(128 // s, 192 // s) for s in model.strides]
    box = torch.tensor([[50.0, 40.0, 90.0, 70.0]])
    targets = build_targets(shapes, model.strides, model.anchors, [box], [torch.tensor([0])])
    det = [torch.full((1, 3 * 6, h, w), -20.0) for h, w in shapes]
    n_pos = 0
    for level, t in enumerate(targets):
        n_pos += len(t.image)
        for a, gy, gx, b, awh in zip(t.anchor, t.gy, t.gx, t.box, t.anchor_wh, strict=True):
            sxy = (b[:2] + 0.5) / 2  # inverse of sigmoid*2-0.5
            swh = torch.sqrt(b[2:] / awh) / 2  # inverse of (sigmoid*2)^2*anchor
            logit = torch.logit(torch.cat([sxy, swh]).clamp(1e-6, 1 - 1e-6))
            ch = int(a) * 6
            det[level][0, ch : ch + 4, gy, gx] = logit
            det[level][0, ch + 4 : ch + 6, gy, gx] = 20.0
    assert n_pos >= 3  # own cell plus neighbours, possibly several anchors
    boxes, scores = model.decode(det)
    hit = scores[0, :, 0] > 0.5
    assert int(hit.sum()) == n_pos
    assert torch.allclose(boxes[0, hit], box.expand(n_pos, 4), atol=1e-3)


def test_single_task_recipe_builds_only_that_head() -> None:
    model = build_model(_recipe("mobilenetv2", (64, 96), tasks=["lane"])).eval()
    assert model.det_head is None and model.drivable_head is None
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    assert set(out) == {"lane"}


def test_vehicle_and_two_class_drivable_options() -> None:
    r = _recipe("mobilenetv2", (64, 96), classes=["vehicle", "pedestrian"], drivable_classes=2)
    assert category_to_class(r) == {"vehicle": 0, "car": 0, "truck": 0, "bus": 0, "train": 0,
                                   "pedestrian": 1}
    model = build_model(r)
    assert model.class_names == ["vehicle", "pedestrian"]
    assert model.drivable_classes == ["background", "drivable"]


@pytest.mark.parametrize(
    ("bad", "match"),
    [({"backbone": {"name": "vgg"}}, "backbone"), ({"input_size": [100, 640]}, "input_size"),
     ({"classes": ["car", "vehicle"]}, "vehicle"), ({"drivable_classes": 4}, "drivable"),
     ({"tasks": []}, "tasks"), ({"bogus": 1}, "unknown recipe key"),
     ({"anchors": [[[1, 2]]]}, "anchors")],
)
def test_bad_recipes_give_one_line_errors(bad: dict, match: str) -> None:
    with pytest.raises(RecipeError, match=match) as err:
        normalize_recipe(bad)
    assert "\n" not in str(err.value)


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_pretrained_fallback_is_fast_and_cache_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("MTL_DOWNLOAD_WEIGHTS", raising=False)
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING):
            model = build_model(_recipe("mobilenetv2", (64, 96)) | {
                "backbone": {"name": "mobilenetv2", "pretrained": True}})
        assert time.monotonic() - t0 < 10
        assert not model.backbone.pretrained
        assert "random initialization" in caplog.text
        # Put "ImageNet" weights where torchvision caches them: they must be loaded.
        ref = torchvision.models.mobilenet_v2()
        with torch.no_grad():
            ref.features[0][0].weight.fill_(0.125)
        ckpt_dir = tmp_path / "hub" / "checkpoints"
        ckpt_dir.mkdir(parents=True)
        torch.save(ref.state_dict(), ckpt_dir / "mobilenet_v2-b0353104.pth")
        model = build_model(_recipe("mobilenetv2", (64, 96)) | {
            "backbone": {"name": "mobilenetv2", "pretrained": True}})
        assert model.backbone.pretrained
        first = model.backbone.stages[0][0][0].weight
        assert torch.all(first == 0.125)
    finally:
        torch.hub.set_dir(str(Path.home() / ".cache" / "torch" / "hub"))


def test_kmeans_anchors_recover_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[8, 10], [16, 30], [30, 20], [40, 80], [60, 50], [90, 100],
                        [120, 200], [200, 150], [300, 260]], float)
    wh = np.concatenate([c * rng.uniform(0.95, 1.05, (80, 2)) for c in centres])
    anchors = kmeans_anchors(wh, seed=1)
    assert anchors.shape == (3, 3, 2)
    areas = anchors[..., 0] * anchors[..., 1]
    assert np.all(np.diff(areas.reshape(-1)) > 0)
    found = anchors.reshape(-1, 2)
    for c in centres:
        assert np.min(np.abs(found - c).max(axis=1) / c.max()) < 0.1
    assert anchor_recall(wh, anchors) == 1.0


def test_effective_number_weights_by_hand() -> None:
    from mtl_perception.training.loss.losses import effective_number_weights

    beta = 0.9
    w = effective_number_weights([1, 10, 0], beta)
    raw = np.array([(1 - beta) / (1 - beta**1), (1 - beta) / (1 - beta**10)])
    assert w[2] == 0.0
    np.testing.assert_allclose(w[:2], raw * 2 / raw.sum(), rtol=1e-6)
    assert w[0] > w[1]  # the rare class weighs more


def test_iou_losses_and_tversky() -> None:
    from mtl_perception.training.loss.losses import bbox_iou_xywh, tversky_loss

    a = torch.tensor([[5.0, 5.0, 4.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[5.0, 5.0, 4.0, 2.0], [4.0, 0.0, 2.0, 2.0]])
    for kind in ("iou", "giou", "diou", "ciou"):
        v = bbox_iou_xywh(a, b, kind)
        assert v[0] == pytest.approx(1.0, abs=1e-5)
    assert bbox_iou_xywh(a, b, "iou")[1] == 0
    # Disjoint boxes 2 apart: enclosing box 6x2 = 12, union 8 -> GIoU = -(12-8)/12.
    assert bbox_iou_xywh(a, b, "giou")[1].item() == pytest.approx(-1 / 3, abs=1e-5)
    target = torch.tensor([[[0, 1], [1, 255]]])
    perfect = torch.stack([(target != 1) * 20.0 - 10, (target == 1) * 20.0 - 10], 1).float()
    assert tversky_loss(perfect, target, 0.3, 0.7).item() < 1e-3
    assert tversky_loss(-perfect, target, 0.3, 0.7).item() > 0.5


def test_contested_slot_goes_to_the_box_that_fits_its_anchor() -> None:
    """Two overlapping boxes in one cell: every (anchor, cell) slot trains one box, never two,
    and the contested slot of an anchor goes to the box whose shape matches it."""
    anchors = torch.tensor([[[8.0, 8.0], [16.0, 16.0], [8.0, 24.0]]])
    small = torch.tensor([20.0, 20.0, 28.0, 28.0])  # 8x8, centre (24, 24)
    large = torch.tensor([17.0, 17.0, 33.0, 33.0])  # 16x16, centre (25, 25)
    targets = build_targets([(8, 8)], [8], anchors, [torch.stack([small, large])],
                            [torch.tensor([0, 1])])
    t = targets[0]
    slots = list(zip(t.anchor.tolist(), t.gy.tolist(), t.gx.tolist(), strict=True))
    assert len(slots) == len(set(slots)), "a slot was assigned twice"
    own_cell = [(int(c), int(a)) for a, gy, gx, c in zip(t.anchor, t.gy, t.gx, t.cls,
                                                         strict=True) if (gy, gx) == (3, 3)]
    assert (0, 0) in own_cell and (1, 1) in own_cell  # 8x8 anchor -> small, 16x16 -> large
    assert {0, 1} <= set(t.cls.tolist())  # both boxes keep positives
    widths = t.box[:, 2][t.cls == 0]
    assert torch.allclose(widths, torch.full_like(widths, 1.0))  # small box targets stay whole


def test_a_box_no_anchor_fits_still_gets_its_best_anchor() -> None:
    """A tight ``ratio_max`` limits each box to its closest shapes but never orphans it."""
    anchors = torch.tensor([[[8.0, 8.0], [30.0, 10.0], [10.0, 30.0]],
                            [[40.0, 40.0], [60.0, 20.0], [20.0, 60.0]]])
    tall = torch.tensor([[10.0, 10.0, 30.0, 90.0]])  # 20x80: best is [20, 60] on level 1
    targets = build_targets([(16, 16), (8, 8)], [8, 16], anchors, [tall], [torch.tensor([0])],
                            ratio_max=1.01)
    assert len(targets[0].image) == 0
    assert len(targets[1].image) >= 1 and set(targets[1].anchor.tolist()) == {2}
    loose = build_targets([(16, 16), (8, 8)], [8, 16], anchors, [tall], [torch.tensor([0])],
                          ratio_max=4.0)
    assert len(loose[0].image) > 0  # the loose rule also uses level 0


def _levels_per_box(ratio_max: float) -> list[int]:
    """FPN levels that train each car-shaped box (one box per image, so no slot contests)."""
    anchors = torch.tensor(DEFAULTS["anchors"], dtype=torch.float32)
    boxes = []
    for w in (16, 24, 32, 48, 64, 96, 128, 160):
        for aspect in (1.0, 1.3, 1.6):  # rear and three-quarter views of cars
            h, cx, cy = w / aspect, 320.3, 192.7
            boxes.append(torch.tensor([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]]))
    classes = [torch.tensor([0])] * len(boxes)
    levels = build_targets([(48, 80), (24, 40), (12, 20)], [8, 16, 32], anchors, boxes, classes,
                           ratio_max=ratio_max)
    return [sum(bool((t.image == i).any()) for t in levels) for i in range(len(boxes))]


def test_default_ratio_keeps_a_car_to_fewer_levels() -> None:
    """Each extra level learns to fire on the same car, and its boxes survive NMS as duplicates."""
    default = _levels_per_box(float(DEFAULTS["loss"]["anchor_ratio_max"]))
    loose = _levels_per_box(4.0)
    assert min(default) >= 1 and max(default) <= 2
    assert sum(default) / len(default) < 1.6
    assert min(loose) >= 2 and sum(loose) / len(loose) > 2.0
