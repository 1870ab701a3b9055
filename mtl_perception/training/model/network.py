"""MultiTaskNet: one backbone, one BiFPN neck, a detection head and two segmentation heads.

The contract (forward/decode outputs and attributes) is documented in docs/architecture.md;
export and evaluation both go through :meth:`MultiTaskNet.decode`, so they agree.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtl_perception.common.classes import LANE_CLASSES
from mtl_perception.common.constants import IMAGENET_MEAN, IMAGENET_STD
from mtl_perception.training.config.recipe import (
    class_names,
    drivable_class_names,
    load_recipe,
    normalize_recipe,
)
from mtl_perception.training.model.backbones import build_backbone
from mtl_perception.training.model.heads import (
    NUM_ANCHORS,
    DetectHead,
    SegDecoder,
    SegHead,
    logits_at,
)
from mtl_perception.training.model.layers import ConvBNAct
from mtl_perception.training.model.neck import BiFPN

__all__ = ["MultiTaskNet", "build_model", "load_recipe"]



class MultiTaskNet(nn.Module):
    """Detection + drivable-area + lane segmentation sharing one backbone and neck."""

    def __init__(self, recipe: dict[str, Any]) -> None:
        super().__init__()
        self.recipe = recipe
        self.recipe_name = str(recipe["name"])
        self.tasks = tuple(recipe["tasks"])
        self.class_names = class_names(recipe)
        self.drivable_classes = drivable_class_names(recipe)
        self.lane_classes = list(LANE_CLASSES)
        self.strides = [int(s) for s in recipe["strides"]]
        self.input_size = (int(recipe["input_size"][0]), int(recipe["input_size"][1]))
        self.register_buffer(
            "anchors", torch.tensor(recipe["anchors"], dtype=torch.float32).view(-1, 3, 2)
        )

        bb = recipe["backbone"]
        self.backbone = build_backbone(
            bb["name"], bool(bb.get("pretrained", True)), float(bb.get("width_mult", 1.0))
        )
        c2, c3, c4, c5 = self.backbone.out_channels
        width = int(recipe["neck"]["channels"])
        self.neck = BiFPN(
            [c3, c4, c5],
            width,
            int(recipe["neck"]["repeats"]),
            bool(recipe["neck"].get("separable", False)),
        )
        self.det_head: DetectHead | None = None
        if "detection" in self.tasks:
            dh = recipe["det_head"]
            self.det_head = DetectHead(width, int(dh["convs"]), len(self.class_names),
                                       separable=bool(dh["separable"]))
        self._build_seg(recipe["seg_head"], c2, width)

    def _build_seg(self, seg: dict[str, Any], c2: int, width: int) -> None:
        """Two mask heads with the low-level skip: each with its own decoder, or one shared
        decoder (``seg_head.shared``) feeding both 1x1 classifiers."""
        low_ch = int(seg["low_level_channels"])
        seg_ch = int(seg["channels"])
        stride, separable = int(seg["output_stride"]), bool(seg["separable"])
        self.low_level: nn.Module | None = None
        self.seg_decoder: SegDecoder | None = None
        self.drivable_head: nn.Module | None = None
        self.lane_head: nn.Module | None = None
        n_masks = {"drivable": len(self.drivable_classes), "lane": len(self.lane_classes)}
        wanted = [t for t in ("drivable", "lane") if t in self.tasks]
        if not wanted:
            return
        self.low_level = ConvBNAct(c2, low_ch, 1)
        if seg["shared"]:
            self.seg_decoder = SegDecoder(width, low_ch, seg_ch, stride, separable)
            for task in wanted:
                classify = nn.Conv2d(self.seg_decoder.out_channels, n_masks[task], 1)
                setattr(self, f"{task}_head", classify)
            return
        for task in wanted:
            setattr(self, f"{task}_head",
                    SegHead(width, low_ch, seg_ch, n_masks[task], stride, separable))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def seg_modules(self) -> list[nn.Module]:
        """The modules phase 2 freezes (segmentation decoders and their low-level skip)."""
        mods = [self.low_level, self.seg_decoder, self.drivable_head, self.lane_head]
        return [m for m in mods if m is not None]

    def forward(self, x: torch.Tensor, with_seg: bool = True) -> dict[str, Any]:
        """``with_seg=False`` skips the segmentation heads (phase 2 trains detection only)."""
        c2, c3, c4, c5 = self.backbone(x)
        p3, p4, p5 = self.neck([c3, c4, c5])
        out: dict[str, Any] = {}
        if self.det_head is not None:
            out["det"] = self.det_head([p3, p4, p5])
        if self.low_level is not None and with_seg:
            low = self.low_level(c2)
            hw = (int(x.shape[-2]), int(x.shape[-1]))
            shared = self.seg_decoder.features(p3, low) if self.seg_decoder is not None else None
            for task in ("drivable", "lane"):
                head = getattr(self, f"{task}_head")
                if head is None:
                    continue
                out[task] = head(p3, low, hw) if shared is None else logits_at(head, shared, hw)
        return out

    def decode_level(self, p: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One level's raw map -> (boxes [B, 3*H*W, 4] xyxy px, scores [B, 3*H*W, C])."""
        b, _, h, w = p.shape
        stride = self.strides[level]
        p = p.view(b, NUM_ANCHORS, 5 + self.num_classes, h, w).permute(0, 1, 3, 4, 2)
        gy, gx = torch.meshgrid(
            torch.arange(h, device=p.device, dtype=p.dtype),
            torch.arange(w, device=p.device, dtype=p.dtype),
            indexing="ij",
        )
        grid = torch.stack((gx, gy), dim=-1).view(1, 1, h, w, 2)
        anchor = self.anchors[level].to(p.dtype).view(1, NUM_ANCHORS, 1, 1, 2)
        sig = p.sigmoid()
        xy = (sig[..., 0:2] * 2.0 - 0.5 + grid) * stride
        wh = (sig[..., 2:4] * 2.0) ** 2 * anchor
        boxes = torch.cat((xy - wh / 2, xy + wh / 2), dim=-1).reshape(b, -1, 4)
        scores = (sig[..., 4:5] * sig[..., 5:]).reshape(b, -1, self.num_classes)
        return boxes, scores

    def decode(self, det: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw per-level maps -> (boxes [B, A, 4] xyxy px, scores [B, A, C])."""
        parts = [self.decode_level(p, i) for i, p in enumerate(det)]
        return torch.cat([b for b, _ in parts], 1), torch.cat([s for _, s in parts], 1)


def build_model(recipe: dict[str, Any]) -> MultiTaskNet:
    """Build the network a recipe describes (a partial recipe is merged over defaults)."""
    return MultiTaskNet(normalize_recipe(recipe))


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] RGB -> normalized float32 [B, 3, H, W] (the forward() input)."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def model_from_checkpoint(
    path: str, device: str | torch.device = "cpu"
) -> tuple[MultiTaskNet, dict[str, Any]]:
    """Rebuild the network a checkpoint was trained with (no ImageNet weights needed) and
    load its weights. Returns (model in eval mode, checkpoint dict)."""
    from mtl_perception.training.engine.checkpoint import deployable_weights, load_checkpoint

    ckpt = load_checkpoint(path, map_location=device)
    recipe = dict(ckpt["recipe"])
    recipe["backbone"] = {**recipe["backbone"], "pretrained": False}
    model = build_model(recipe)
    model.load_state_dict(deployable_weights(ckpt))
    model.recipe = ckpt["recipe"]
    return model.to(device).eval(), ckpt
