"""An exponential moving average of the weights, evaluated and exported instead of the raw ones.

Averaging smooths the step-to-step noise of the final weights, which is why long detection
runs commonly use it; in the 60-minute benchmark (docs/training.md) it gave no gain, so it is
off by default. torch's ``AveragedModel`` keeps the copy; this module only supplies the
decay, which ramps up from 0 so that the first steps' random weights fade out quickly:
``decay(n) = decay * (1 - exp(-n / tau_steps))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

MultiAvgFn = Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]


def ramped_decay(decay: float, tau_steps: float, updates: int) -> float:
    """The decay used for the ``updates``-th update (1-based)."""
    return decay * (1.0 - math.exp(-updates / tau_steps))


def _ramped_ema_fn(decay: float, tau_steps: float) -> MultiAvgFn:
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor],
               num_averaged: torch.Tensor) -> None:
        # AveragedModel groups tensors by dtype: integer buffers (BatchNorm's batch counter)
        # are copied, floating ones averaged.
        if not averaged[0].is_floating_point():
            torch._foreach_copy_(averaged, current)
            return
        d = ramped_decay(decay, tau_steps, int(num_averaged) + 1)
        torch._foreach_lerp_(averaged, current, 1.0 - d)
    return update


def make_ema(model: nn.Module, decay: float, tau_steps: float) -> AveragedModel:
    """An averaged copy of ``model`` (parameters and buffers, BatchNorm statistics included)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"EMA decay {decay} is outside (0, 1)")
    if tau_steps <= 0:
        raise ValueError(f"EMA tau_steps {tau_steps} must be positive")
    ema = AveragedModel(model, multi_avg_fn=_ramped_ema_fn(decay, tau_steps), use_buffers=True)
    ema.eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema
