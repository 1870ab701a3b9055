"""The node's parameters: one table of names, defaults, ranges and descriptions.

docs/parameters.md and config/perception.yaml mirror this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)

from mtl_perception.inference.backends import BACKENDS
from mtl_perception.inference.backends.onnxruntime_backend import SPINNING_MODES
from mtl_perception.inference.backends.tensorrt.engine_cache import PRECISIONS


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    read_only: bool = True
    min: float | int | None = None
    max: float | int | None = None
    choices: tuple[str, ...] = ()


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "", "Exported ONNX model (or TensorRT engine) file; required"),
    ParamSpec("backend", "auto", "Inference backend", choices=BACKENDS),
    ParamSpec("engine_cache_dir", "",
              "TensorRT engine cache folder ('' = $MTL_ENGINE_CACHE, else "
              "~/.cache/mtl_perception/engines)"),
    ParamSpec("precision", "fp16", "TensorRT engine precision", choices=PRECISIONS),
    ParamSpec("onnxruntime_threads", 0, "ONNX Runtime intra-op threads (0 = library default)",
              min=0, max=64),
    ParamSpec("onnxruntime_spinning", "run",
              "ONNX Runtime pool threads spin-wait: only during run(), always, or off",
              choices=SPINNING_MODES),
    ParamSpec("input_transport", "raw", "Subscribe to 'image' (raw) or 'image/compressed'",
              choices=("raw", "compressed")),
    ParamSpec("cameras", None,
              "Camera names: camera X uses X/image, X/detections, ... and all share one model "
              "(unset/empty = one camera on image, detections, ...)"),
    ParamSpec("confidence_threshold", 0.25, "Minimum detection score", read_only=False,
              min=0.0, max=1.0),
    ParamSpec("nms_iou_threshold", 0.45, "Class-wise NMS IoU threshold", read_only=False,
              min=0.01, max=1.0),
    ParamSpec("max_detections", 100, "Detections kept per frame after NMS", read_only=False,
              min=1, max=1000),
    ParamSpec("classes", None, "Detection classes to keep, by name or index (unset/empty = all)",
              read_only=False),
    ParamSpec("publish_overlay", True, "Publish 'overlay' (only while someone subscribes)",
              read_only=False),
    ParamSpec("max_image_pixels", 3840 * 2160, "Frames with more pixels are rejected",
              read_only=False, min=1, max=100_000_000),
    ParamSpec("input_qos_reliability", "reliable", "Input QoS reliability",
              choices=("best_effort", "reliable")),
    ParamSpec("input_qos_depth", 1, "Input QoS history depth", min=1, max=100),
    ParamSpec("output_qos_reliability", "reliable", "Output QoS reliability",
              choices=("best_effort", "reliable")),
    ParamSpec("output_qos_depth", 2, "Output QoS history depth", min=1, max=100),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages",
              min=0.1, max=60.0),
    ParamSpec("warn_throttle_sec", 5.0, "Minimum seconds between repeated warnings",
              read_only=False, min=0.0, max=3600.0),
)
BY_NAME = {p.name: p for p in PARAMS}


def descriptor(spec: ParamSpec, read_only: bool | None = None) -> ParameterDescriptor:
    """A ParameterDescriptor with description, range and read_only set (``read_only``
    overrides the table's: the lifecycle node keeps start-time parameters writable)."""
    text = spec.description
    if spec.choices:
        text += f" (one of: {', '.join(spec.choices)})"
    desc = ParameterDescriptor(name=spec.name, description=text,
                               read_only=spec.read_only if read_only is None else read_only)
    if spec.default is None:
        desc.type = ParameterType.PARAMETER_STRING_ARRAY
    if spec.min is not None and isinstance(spec.default, float):
        desc.floating_point_range = [
            FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)
        ]
    elif spec.min is not None and isinstance(spec.default, int):
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max),
                                           step=1)]
    if spec.choices:
        desc.additional_constraints = f"one of: {', '.join(spec.choices)}"
    return desc


def choice_problem(name: str, value: Any) -> str | None:
    """Why a string parameter value is not among its choices, or None."""
    spec = BY_NAME.get(name)
    if spec and spec.choices and value not in spec.choices:
        return f"{name}={value!r} is not one of {', '.join(spec.choices)}"
    return None
