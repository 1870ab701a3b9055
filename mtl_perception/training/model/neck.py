"""BiFPN-style neck: weighted top-down then bottom-up fusion over P3-P5.

Each fusion node combines its inputs with learnable non-negative weights normalized to sum
to one ("fast normalized fusion", EfficientDet), so the network learns how much each
resolution contributes instead of summing them blindly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtl_perception.training.model.layers import ConvBNAct, conv_block


class WeightedFusion(nn.Module):
    """sum_i relu(w_i) * x_i / (sum_j relu(w_j) + eps), then a conv block."""

    def __init__(self, n_inputs: int, channels: int, separable: bool, eps: float = 1e-4):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_inputs))
        self.eps = eps
        self.conv = conv_block(channels, channels, separable)

    def normalized_weights(self) -> torch.Tensor:
        w = F.relu(self.weight)
        return w / (w.sum() + self.eps)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        w = self.normalized_weights()
        fused = inputs[0] * w[0]
        for i in range(1, len(inputs)):
            fused = fused + inputs[i] * w[i]
        return self.conv(fused)


def _up_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="nearest")


def _down_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    if x.shape[-2:] != ref.shape[-2:]:
        x = F.interpolate(x, size=ref.shape[-2:], mode="nearest")
    return x


class BiFPNLayer(nn.Module):
    """One top-down + bottom-up pass over [P3, P4, P5]."""

    def __init__(self, channels: int, separable: bool):
        super().__init__()
        self.td4 = WeightedFusion(2, channels, separable)
        self.out3 = WeightedFusion(2, channels, separable)
        self.out4 = WeightedFusion(3, channels, separable)
        self.out5 = WeightedFusion(2, channels, separable)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        td4 = self.td4([p4, _up_to(p5, p4)])
        out3 = self.out3([p3, _up_to(td4, p3)])
        out4 = self.out4([p4, td4, _down_to(out3, p4)])
        out5 = self.out5([p5, _down_to(out4, p5)])
        return [out3, out4, out5]


class BiFPN(nn.Module):
    """Project C3-C5 to a common width, then ``repeats`` BiFPN layers.

    Returns [P3, P4, P5]; P3 of the last layer is the top-down (up-sampled) path's output
    refined once more, which the segmentation heads read.
    """

    def __init__(
        self, in_channels: list[int], channels: int, repeats: int, separable: bool = False
    ):
        super().__init__()
        self.lateral = nn.ModuleList([ConvBNAct(c, channels, 1) for c in in_channels])
        self.layers = nn.ModuleList([BiFPNLayer(channels, separable) for _ in range(repeats)])
        self.channels = channels

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        out = [lat(f) for lat, f in zip(self.lateral, feats, strict=True)]
        for layer in self.layers:
            out = layer(out)
        return out
