"""torchvision backbones as multi-scale feature extractors (strides 4, 8, 16, 32).

ImageNet weights are used only when torchvision already has them in the torch hub cache
(or when downloads are explicitly allowed), so an offline machine never waits on a network
timeout: it logs one line and starts from random initialization.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

LOG = logging.getLogger(__name__)
# Set MTL_DOWNLOAD_WEIGHTS=1 to let torchvision fetch missing ImageNet weights.
DOWNLOAD_ENV = "MTL_DOWNLOAD_WEIGHTS"


def _cached_weights(weights: Any) -> Any | None:
    """Return ``weights`` if its file is in the hub cache (or downloads are allowed)."""
    filename = Path(weights.url).name
    cache = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cache.is_file():
        return weights
    if os.environ.get(DOWNLOAD_ENV, "") == "1":
        return weights
    LOG.warning(
        "ImageNet weights %s not cached at %s; starting from random initialization "
        "(set %s=1 to download them)",
        weights,
        cache,
        DOWNLOAD_ENV,
    )
    return None


class _StagedFeatures(nn.Module):
    """Runs ``self.stages`` in order and returns every stage's output (one per stride)."""

    stages: nn.ModuleList
    out_channels: list[int]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


class MobileNetV2Features(_StagedFeatures):
    """MobileNetV2 ``features`` split at strides 4/8/16/32 (the final 1x1 1280 conv dropped)."""

    def __init__(self, pretrained: bool, width_mult: float = 1.0) -> None:
        super().__init__()
        weights = None
        if pretrained and width_mult == 1.0:
            weights = _cached_weights(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1)
        elif pretrained:
            # torchvision publishes ImageNet weights for the full-width network only.
            LOG.warning("no ImageNet weights for MobileNetV2 width %.2f; random init", width_mult)
        net = torchvision.models.mobilenet_v2(weights=weights, width_mult=width_mult)
        feats = net.features
        self.stages = nn.ModuleList([feats[0:4], feats[4:7], feats[7:14], feats[14:18]])
        self.out_channels = [int(feats[i].out_channels) for i in (3, 6, 13, 17)]
        self.pretrained = weights is not None


class ResNet50Features(_StagedFeatures):
    """ResNet50 stem + layer1..layer4 (strides 4/8/16/32), classifier dropped."""

    def __init__(self, pretrained: bool) -> None:
        super().__init__()
        w = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
        weights = _cached_weights(w) if pretrained else None
        net = torchvision.models.resnet50(weights=weights)
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.ModuleList(
            [nn.Sequential(stem, net.layer1), net.layer2, net.layer3, net.layer4]
        )
        self.out_channels = [256, 512, 1024, 2048]
        self.pretrained = weights is not None


def build_backbone(
    name: str, pretrained: bool = True, width_mult: float = 1.0
) -> MobileNetV2Features | ResNet50Features:
    """Build a backbone returning [C2 (s4), C3 (s8), C4 (s16), C5 (s32)] features.

    ``width_mult`` (MobileNetV2 only) thins every layer, for CPU-sized demo recipes.
    """
    if name == "mobilenetv2":
        return MobileNetV2Features(pretrained, width_mult)
    if width_mult != 1.0:
        raise ValueError(f"width_mult applies to mobilenetv2 only, not {name!r}")
    if name == "resnet50":
        return ResNet50Features(pretrained)
    raise ValueError(f"unknown backbone {name!r}")
