"""Task heads: an anchor-based multi-scale detection head and two segmentation decoders."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mtl_perception.training.model.layers import ConvBNAct

NUM_ANCHORS = 3


class DetectHead(nn.Module):
    """Shared conv tower over P3-P5, then one 1x1 conv predicting, per anchor,
    (tx, ty, tw, th, objectness, class logits...)."""

    def __init__(self, channels: int, n_convs: int, num_classes: int, n_levels: int = 3):
        super().__init__()
        self.num_classes = num_classes
        self.num_outputs = 5 + num_classes
        self.tower = nn.Sequential(*[ConvBNAct(channels, channels, 3) for _ in range(n_convs)])
        self.pred = nn.ModuleList(
            [nn.Conv2d(channels, NUM_ANCHORS * self.num_outputs, 1) for _ in range(n_levels)]
        )
        self._init_bias()

    def _init_bias(self) -> None:
        # Start with few positives (objectness prior 1%) and uniform class scores, so the
        # early loss is not dominated by thousands of confident false positives.
        p_cls = 1.0 / max(self.num_classes, 2)
        with torch.no_grad():
            for conv in self.pred:
                b = conv.bias.view(NUM_ANCHORS, self.num_outputs)
                b[:, 4] = math.log(0.01 / 0.99)
                b[:, 5:] = math.log(p_cls / (1 - p_cls))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [pred(self.tower(f)) for pred, f in zip(self.pred, feats, strict=True)]


class SegHead(nn.Module):
    """Decoder from the neck's up-sampled P3 plus the stride-4 backbone feature.

    P3 (s8) -> conv -> up x2 -> concat low-level (s4) -> conv -> up x2 -> conv -> logits (s2)
    -> bilinear to input size. The low-level skip keeps thin lane lines sharp.
    """

    def __init__(self, in_channels: int, low_channels: int, channels: int, num_classes: int):
        super().__init__()
        self.reduce = ConvBNAct(in_channels, channels, 3)
        self.fuse = ConvBNAct(channels + low_channels, channels, 3)
        self.refine = ConvBNAct(channels, channels // 2, 3)
        self.classify = nn.Conv2d(channels // 2, num_classes, 1)

    def forward(self, p3: torch.Tensor, low: torch.Tensor, out_hw: tuple[int, int]):
        x = self.reduce(p3)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        x = self.fuse(torch.cat([x, low], dim=1))
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.classify(self.refine(x))
        return F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False)
