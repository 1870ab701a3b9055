"""The weight moving average: its ramped decay, buffers, and which weights a checkpoint serves."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mtl_perception.training.engine.checkpoint import deployable_weights
from mtl_perception.training.engine.ema import make_ema, ramped_decay


def test_ramped_average_matches_hand_computation() -> None:
    model = nn.Sequential(nn.Linear(2, 1, bias=False), nn.BatchNorm1d(1))
    ema = make_ema(model, decay=0.9, tau_steps=2.0)
    weight = model[0].weight
    values = [1.0, 3.0, -2.0]
    expected = None
    for n, v in enumerate(values, start=1):
        with torch.no_grad():
            weight.fill_(v)
            model[1].num_batches_tracked.fill_(10 * n)
        ema.update_parameters(model)
        if expected is None:
            expected = v  # the first update copies
        else:
            d = 0.9 * (1 - math.exp(-n / 2.0))
            expected = d * expected + (1 - d) * v
        assert torch.allclose(ema.module[0].weight, torch.full_like(weight, expected))
        # Integer buffers are copied, not averaged.
        assert int(ema.module[1].num_batches_tracked) == 10 * n
    assert ramped_decay(0.9, 2.0, 2) == pytest.approx(0.9 * (1 - math.exp(-1)))
    assert not any(p.requires_grad for p in ema.parameters())


@pytest.mark.parametrize("decay, tau", [(0.0, 10.0), (1.0, 10.0), (0.9, 0.0)])
def test_bad_settings_are_refused(decay: float, tau: float) -> None:
    with pytest.raises(ValueError):
        make_ema(nn.Linear(1, 1), decay, tau)


def test_checkpoint_serves_the_average_when_it_has_one(tmp_path: Path) -> None:
    raw = {"w": torch.zeros(2)}
    averaged = {"w": torch.ones(2)}
    assert deployable_weights({"model": raw}) is raw
    assert deployable_weights({"model": raw, "ema": averaged}) is averaged
