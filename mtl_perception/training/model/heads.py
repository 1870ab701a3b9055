"""Task heads: an anchor-based multi-scale detection head and the segmentation decoders."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mtl_perception.training.model.layers import conv_block

NUM_ANCHORS = 3


class DetectHead(nn.Module):
    """Shared conv tower over P3-P5, then one 1x1 conv predicting, per anchor,
    (tx, ty, tw, th, objectness, class logits...)."""

    def __init__(self, channels: int, n_convs: int, num_classes: int, n_levels: int = 3,
                 separable: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.num_outputs = 5 + num_classes
        self.tower = nn.Sequential(
            *[conv_block(channels, channels, separable) for _ in range(n_convs)]
        )
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


class SegDecoder(nn.Module):
    """The neck's P3 plus the stride-4 backbone feature -> features at ``output_stride``.

    P3 (s8) -> conv -> up x2 -> concat low-level (s4) -> conv [-> up x2 -> conv (s2)].
    The low-level skip keeps thin lane lines sharp; ``output_stride`` 4 stops before the
    stride-2 stage, which holds most of the decoder's multiply-adds.
    """

    def __init__(self, in_channels: int, low_channels: int, channels: int,
                 output_stride: int = 2, separable: bool = False):
        super().__init__()
        if output_stride not in (2, 4):
            raise ValueError(f"output_stride must be 2 or 4, not {output_stride}")
        self.reduce = conv_block(in_channels, channels, separable)
        self.fuse = conv_block(channels + low_channels, channels, separable)
        self.refine: nn.Module | None = None
        self.out_channels = channels
        if output_stride == 2:
            self.refine = conv_block(channels, channels // 2, separable)
            self.out_channels = channels // 2

    def features(self, p3: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        x = self.reduce(p3)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        x = self.fuse(torch.cat([x, low], dim=1))
        if self.refine is not None:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.refine(x)
        return x


def logits_at(classify: nn.Module, feats: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """1x1 classifier on decoder features, bilinearly up-sampled to the input size in-graph."""
    return F.interpolate(classify(feats), size=out_hw, mode="bilinear", align_corners=False)


class SegHead(SegDecoder):
    """A decoder of its own plus a 1x1 classifier: one mask's logits at the input size."""

    def __init__(self, in_channels: int, low_channels: int, channels: int, num_classes: int,
                 output_stride: int = 2, separable: bool = False):
        super().__init__(in_channels, low_channels, channels, output_stride, separable)
        self.classify = nn.Conv2d(self.out_channels, num_classes, 1)

    def forward(self, p3: torch.Tensor, low: torch.Tensor,
                out_hw: tuple[int, int]) -> torch.Tensor:
        return logits_at(self.classify, self.features(p3, low), out_hw)
