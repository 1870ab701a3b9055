"""The deployment recipe (mobilenetv2_bifpn_fast): it builds, its outputs have the contract's
shapes at two resolutions, and both masks read the stride-4 low-level skip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtl_perception.training.config.recipe import load_recipe, with_input_size
from mtl_perception.training.model.heads import SegDecoder
from mtl_perception.training.model.network import build_model

RECIPE = Path(__file__).resolve().parents[1] / "config" / "models" / "mobilenetv2_bifpn_fast.yaml"


def _model(hw: tuple[int, int]) -> torch.nn.Module:
    recipe = with_input_size(load_recipe(RECIPE), hw)
    recipe["backbone"] = {**recipe["backbone"], "pretrained": False}
    torch.manual_seed(0)
    return build_model(recipe).eval()


@pytest.mark.parametrize("hw", [(128, 224), (160, 256)])
def test_forward_shapes_at_two_resolutions(hw: tuple[int, int]) -> None:
    model = _model(hw)
    with torch.no_grad():
        out = model(torch.randn(1, 3, *hw))
    n_out = 3 * (5 + model.num_classes)
    assert [tuple(p.shape) for p in out["det"]] == [
        (1, n_out, hw[0] // s, hw[1] // s) for s in (8, 16, 32)]
    assert tuple(out["drivable"].shape) == (1, 3, *hw)
    assert tuple(out["lane"].shape) == (1, 2, *hw)
    boxes, scores = model.decode(out["det"])
    anchors = 3 * sum((hw[0] // s) * (hw[1] // s) for s in (8, 16, 32))
    assert tuple(boxes.shape) == (1, anchors, 4)
    assert tuple(scores.shape) == (1, anchors, model.num_classes)


def test_one_shared_decoder_at_stride_4_with_separable_blocks() -> None:
    model = _model((128, 224))
    assert isinstance(model.seg_decoder, SegDecoder) and model.seg_decoder.refine is None
    depthwise = [m for m in model.neck.modules()
                 if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1]
    assert depthwise, "the recipe asks for a separable neck"


def test_both_masks_use_the_low_level_skip() -> None:
    """Zeroing the stride-4 projection changes both masks' logits; the detection maps, which
    do not read it, stay the same."""
    model = _model((128, 224))
    x = torch.randn(1, 3, 128, 224)
    with torch.no_grad():
        plain = model(x)
        handle = model.low_level.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
        try:
            cut = model(x)
        finally:
            handle.remove()
    for task in ("drivable", "lane"):
        assert not torch.allclose(plain[task], cut[task]), f"{task} ignores the skip"
    for a, b in zip(plain["det"], cut["det"], strict=True):
        torch.testing.assert_close(a, b)
