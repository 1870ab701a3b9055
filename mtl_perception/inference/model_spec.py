"""The self-describing model contract shared by the exporter, the engine builder and the node.

An exported ONNX model stores one JSON document under the ``metadata_props`` key
:data:`METADATA_KEY`; a TensorRT engine stores the same document in its sidecar JSON.
Everything the node needs to run the model comes from here, so the node needs no
recipe, checkpoint or training code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mtl_perception.common.constants import IMAGENET_MEAN, IMAGENET_STD, PAD_VALUE
from mtl_perception.common.errors import MtlError

METADATA_KEY = "mtl_perception"
FORMAT_VERSION = 1


class ModelSpecError(MtlError, ValueError):
    """The model file's metadata is missing or does not describe a usable model."""


@dataclass(frozen=True)
class NmsDefaults:
    confidence_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100


@dataclass(frozen=True)
class ModelSpec:
    """What a model expects and emits.

    Graph I/O (batch 1 unless the model was exported with ``--dynamic``):
      * ``input_name``: uint8 ``[N, H, W, 3]`` RGB; conversion to float, normalization
        and the NHWC->NCHW transpose happen inside the graph.
      * ``boxes_output``: float32 ``[N, A, 4]`` x1, y1, x2, y2 in network-input pixels.
      * ``scores_output``: float32 ``[N, A, C]`` objectness x class probability.
      * ``drivable_output`` / ``lane_output``: uint8 ``[N, H, W]`` class ids (argmax in graph).
    """

    input_height: int
    input_width: int
    detection_classes: tuple[str, ...]
    drivable_classes: tuple[str, ...] = ("background", "direct", "alternative")
    lane_classes: tuple[str, ...] = ("background", "lane")
    input_name: str = "image"
    input_layout: str = "NHWC"
    input_color: str = "RGB"
    pad_value: int = PAD_VALUE
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    boxes_output: str = "boxes"
    scores_output: str = "scores"
    drivable_output: str = "drivable"
    lane_output: str = "lane"
    needs_nms: bool = True
    nms: NmsDefaults = field(default_factory=NmsDefaults)
    recipe_name: str = ""
    recipe_sha256: str = ""
    checkpoint_sha256: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelSpec:
        try:
            version = int(raw.get("format_version", FORMAT_VERSION))
            if version > FORMAT_VERSION:
                raise ModelSpecError(
                    f"model metadata format {version} is newer than this mtl_perception "
                    f"understands ({FORMAT_VERSION}); upgrade mtl_perception"
                )
            values = dict(raw)
            values["nms"] = NmsDefaults(**values.get("nms", {}))
            for key in ("detection_classes", "drivable_classes", "lane_classes", "mean", "std"):
                if key in values:
                    values[key] = tuple(values[key])
            spec = cls(**values)
        except ModelSpecError:
            raise
        except (TypeError, ValueError) as exc:
            raise ModelSpecError(f"model metadata is malformed: {exc}") from exc
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelSpecError(f"model metadata is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ModelSpecError("model metadata must be a JSON object")
        return cls.from_dict(raw)

    def validate(self) -> None:
        if self.input_height <= 0 or self.input_width <= 0:
            raise ModelSpecError(f"bad input size {self.input_height}x{self.input_width}")
        if self.input_height % 32 or self.input_width % 32:
            raise ModelSpecError(
                f"input size {self.input_height}x{self.input_width} is not a multiple of 32"
            )
        if not self.detection_classes:
            raise ModelSpecError("model metadata lists no detection classes")
        if self.input_layout != "NHWC" or self.input_color != "RGB":
            raise ModelSpecError(
                f"unsupported input {self.input_layout}/{self.input_color}; expected NHWC/RGB"
            )
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ModelSpecError("normalization mean and std need 3 values each")
