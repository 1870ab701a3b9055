"""Numbers that the network's input and targets are defined by, shared by training and runtime.

The exported model's metadata carries the values it was trained with (``ModelSpec``); these
are the defaults every recipe and export starts from.
"""

from __future__ import annotations

# Letterbox padding grey: the border a resized frame gets, in training and in the node.
PAD_VALUE = 114
# Segmentation ground truth for "not labelled": left out of the losses and the metrics.
IGNORE_INDEX = 255
# torchvision's ImageNet normalisation (RGB, on 0..1 pixels), which the backbones expect.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
