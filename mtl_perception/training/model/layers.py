"""Small building blocks shared by the neck and the heads."""

from __future__ import annotations

from torch import nn


class ConvBNAct(nn.Sequential):
    """Conv -> BatchNorm -> SiLU, 'same' padding."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-3),
            nn.SiLU(inplace=True),
        )


class SeparableConvBNAct(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1 (EfficientDet-style cheap conv)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, 1, 1, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-3),
            nn.SiLU(inplace=True),
        )


def conv_block(c_in: int, c_out: int, separable: bool) -> nn.Module:
    return SeparableConvBNAct(c_in, c_out) if separable else ConvBNAct(c_in, c_out, 3)
