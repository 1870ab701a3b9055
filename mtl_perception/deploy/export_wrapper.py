"""The module that is traced into ONNX: uint8 image in, decoded boxes and uint8 masks out.

Putting the cheap pre/post-processing inside the graph means the node copies a uint8 frame
to the device and gets back boxes, scores and two uint8 masks: no float planes cross the
host/device boundary, and TensorRT fuses the normalization into the first convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from mtl_perception.common.constants import IMAGENET_MEAN, IMAGENET_STD
from mtl_perception.training.model.network import MultiTaskNet

OUTPUT_NAMES = ("boxes", "scores", "drivable", "lane")
REQUIRED_TASKS = ("detection", "drivable", "lane")


def class_ids_uint8(logits: torch.Tensor) -> torch.Tensor:
    """Argmax over the class axis as uint8 [N, H, W].

    The cast goes int -> float -> uint8 on purpose: TensorRT 8.5/8.6 convert to and from UINT8
    only from FP32/FP16 (an identity layer at a network boundary), not from INT32.
    """
    return logits.argmax(dim=1).to(torch.float32).to(torch.uint8)


class ExportWrapper(nn.Module):
    """uint8 NHWC RGB ``image`` -> (boxes, scores, drivable, lane), see docs/architecture.md."""

    def __init__(self, model: MultiTaskNet) -> None:
        super().__init__()
        missing = [t for t in REQUIRED_TASKS if t not in model.tasks]
        if missing:
            raise ValueError(f"export needs all three tasks; the recipe lacks {missing} (a "
                             "single-task model is for mtl-eval and the benchmarks)")
        self.model = model
        # (x/255 - mean)/std == x * scale + shift: one multiply-add that TensorRT folds.
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("shift", -mean / std)

    def forward(
        self, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = image.permute(0, 3, 1, 2).to(torch.float32) * self.scale + self.shift
        out = self.model(x)
        boxes, scores = self.model.decode(out["det"])
        return boxes, scores, class_ids_uint8(out["drivable"]), class_ids_uint8(out["lane"])
