"""Builds ONNX graphs whose outputs the tests know exactly (onnx.helper only, no torch).

The graph takes the contract's uint8 ``image`` input and emits constant boxes, scores and
masks in network-input space, so everything downstream (un-letterboxing, NMS, message
filling) can be checked against exact ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mtl_perception.inference.letterbox import Letterbox
from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec

CLASSES = ("pedestrian", "rider", "car", "truck")


def known_outputs(input_hw: tuple[int, int] = (384, 640)) -> dict[str, np.ndarray]:
    """Boxes/scores/masks in network space for a 1280x720 source (letterbox scale 0.5, pad y=12)."""
    h, w = input_hw
    boxes = np.array(
        [
            [100.0, 62.0, 200.0, 162.0],  # car 0.9
            [104.0, 66.0, 204.0, 166.0],  # car 0.6: overlaps the first -> suppressed by NMS
            [300.0, 112.0, 340.0, 192.0],  # pedestrian 0.8
            [600.0, 5.0, 700.0, 40.0],  # truck 0.7, reaches into the padding/off-image -> clipped
            [10.0, 200.0, 50.0, 240.0],  # rider 0.1: below the confidence threshold
        ],
        np.float32,
    )
    scores = np.zeros((len(boxes), len(CLASSES)), np.float32)
    scores[0, 2], scores[1, 2], scores[2, 0], scores[3, 3], scores[4, 1] = 0.9, 0.6, 0.8, 0.7, 0.1
    drivable = np.zeros((h, w), np.uint8)
    drivable[200:372, :] = 1  # ends at y=372 = bottom of the image content (12 + 360)
    drivable[372:, :] = 2  # padding rows: must be cropped away by un-letterboxing
    lane = np.zeros((h, w), np.uint8)
    lane[12:372, 320:322] = 1
    return {"boxes": boxes[None], "scores": scores[None], "drivable": drivable[None],
            "lane": lane[None]}


def build_constant_model(
    path: str | Path,
    input_hw: tuple[int, int] = (384, 640),
    outputs: dict[str, np.ndarray] | None = None,
    with_metadata: bool = True,
    classes: tuple[str, ...] = CLASSES,
    dynamic_batch: bool = False,
    image_dependent: bool = False,
) -> Path:
    """Write the model to ``path``; ``with_metadata=False`` makes a metadata-less file.

    ``dynamic_batch``: the batch dimension is symbolic (``batch``), as ``mtl-export --dynamic``
    writes it; every output gets the input's batch size. ``image_dependent`` (dynamic only):
    each image's boxes move by 0.1 x its mean pixel value and its lane mask is 1 where any
    channel of the network input exceeds 128, so a result handed to the wrong frame, or
    batch items mixed up, changes the answer.
    """
    h, w = input_hw
    outs = outputs if outputs is not None else known_outputs(input_hw)
    if image_dependent and not dynamic_batch:
        raise ValueError("image_dependent needs dynamic_batch")
    nodes = [helper.make_node("Cast", ["image"], ["image_f"], to=TensorProto.FLOAT)]
    if dynamic_batch:
        # shift [N, 1, 1]: per image, 0.1 x mean (or 0 x max), broadcast into every output
        reduce = "ReduceMean" if image_dependent else "ReduceMax"
        factor = "tenth" if image_dependent else "zero"
        nodes += [
            helper.make_node(reduce, ["image_f", "axes123"], ["image_stat"], keepdims=1),
            helper.make_node("Reshape", ["image_stat", "shape_n11"], ["image_stat_n11"]),
            helper.make_node("Mul", ["image_stat_n11", factor], ["shift"]),
            helper.make_node("Mul", ["shift", "zero"], ["shift_zero"]),
            helper.make_node("Add", ["boxes_const", "shift"], ["boxes"]),
            helper.make_node("Add", ["scores_const", "shift_zero"], ["scores"]),
            # masks: via float (older ONNX Runtime builds have no uint8 Add)
            helper.make_node("Cast", ["drivable_const"], ["drivable_f"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["drivable_f", "shift_zero"], ["drivable_n"]),
            helper.make_node("Cast", ["drivable_n"], ["drivable"], to=TensorProto.UINT8),
        ]
        if image_dependent:
            nodes += [
                helper.make_node("ReduceMax", ["image_f", "axis3"], ["image_cmax"], keepdims=0),
                helper.make_node("Greater", ["image_cmax", "threshold"], ["lane_b"]),
                helper.make_node("Cast", ["lane_b"], ["lane"], to=TensorProto.UINT8),
            ]
        else:
            nodes += [
                helper.make_node("Cast", ["lane_const"], ["lane_f"], to=TensorProto.FLOAT),
                helper.make_node("Add", ["lane_f", "shift_zero"], ["lane_n"]),
                helper.make_node("Cast", ["lane_n"], ["lane"], to=TensorProto.UINT8),
            ]
    else:
        nodes += [
            # boxes = const + 0 * max(image): keeps the input live without changing the values.
            helper.make_node("ReduceMax", ["image_f"], ["image_max"], keepdims=0),
            helper.make_node("Mul", ["image_max", "zero"], ["image_zero"]),
            helper.make_node("Add", ["boxes_const", "image_zero"], ["boxes"]),
            helper.make_node("Identity", ["scores_const"], ["scores"]),
            helper.make_node("Identity", ["drivable_const"], ["drivable"]),
            helper.make_node("Identity", ["lane_const"], ["lane"]),
        ]
    inits = [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(outs["boxes"].astype(np.float32), "boxes_const"),
        numpy_helper.from_array(outs["scores"].astype(np.float32), "scores_const"),
        numpy_helper.from_array(outs["drivable"].astype(np.uint8), "drivable_const"),
        numpy_helper.from_array(outs["lane"].astype(np.uint8), "lane_const"),
    ]
    if dynamic_batch:
        inits += [
            numpy_helper.from_array(np.array(0.1, np.float32), "tenth"),
            numpy_helper.from_array(np.array(128.0, np.float32), "threshold"),
            numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes123"),
            numpy_helper.from_array(np.array([3], np.int64), "axis3"),
            numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape_n11"),
        ]
    anchors, ncls = outs["scores"].shape[1], outs["scores"].shape[2]
    n: Any = "batch" if dynamic_batch else 1
    graph = helper.make_graph(
        nodes,
        "mtl_constant",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [n, h, w, 3])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [n, anchors, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [n, anchors, ncls]),
            helper.make_tensor_value_info("drivable", TensorProto.UINT8, [n, h, w]),
            helper.make_tensor_value_info("lane", TensorProto.UINT8, [n, h, w]),
        ],
        initializer=inits,
    )
    opset = 18 if dynamic_batch else 17  # ReduceMean/ReduceMax take axes as an input from 18
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if with_metadata:
        spec = ModelSpec(input_height=h, input_width=w, detection_classes=classes,
                         recipe_name="constant-test")
        helper.set_model_props(model, {METADATA_KEY: spec.to_json()})
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path


def build_oracle_model(path: Path, truth: Any, source_hw: tuple[int, int],
                       input_hw: tuple[int, int], classes: Sequence[str]) -> Path:
    """A constant model whose outputs are one frame's ground truth (a ``GroundTruth`` frame),
    letterboxed into network space: every downstream metric for that frame must be perfect."""
    lb = Letterbox.fit(source_hw, input_hw)
    boxes = lb.boxes_to_network(
        np.array([[b.x1, b.y1, b.x2, b.y2] for b in truth.boxes], np.float32).reshape(-1, 4))
    scores = np.zeros((len(boxes), len(classes)), np.float32)
    for i, b in enumerate(truth.boxes):
        scores[i, list(classes).index(b.label)] = 0.9
    outputs = {
        "boxes": boxes[None], "scores": scores[None],
        "drivable": lb.apply(truth.drivable, input_hw, 0, interpolation=cv2.INTER_NEAREST)[None],
        "lane": lb.apply(truth.lane, input_hw, 0, interpolation=cv2.INTER_NEAREST)[None],
    }
    return build_constant_model(path, input_hw, outputs, classes=tuple(classes))
