"""The one factory of small ONNX models for tests and benchmarks (onnx.helper only, no torch).

Two kinds, both with the exported-model contract (uint8 NHWC ``image`` in; ``boxes``,
``scores``, ``drivable``, ``lane`` out; a ``ModelSpec`` in the metadata):

* ``build_constant_model``: outputs the tests know exactly (``known_outputs``, or any given
  arrays), so everything downstream of the backend can be checked against exact values;
* ``build_random_model``: a small random-weight conv net whose cost grows with the input, for
  benchmarks that need a model doing real work without a trained one.

Python 3.8 compatible: the runtime test lane (JetPack 5) builds its models with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec

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



def build_random_model(path: Path, input_hw: tuple[int, int] = (384, 640),
                       num_classes: int = 10, seed: int = 0, dynamic: bool = False) -> Path:
    """A small conv net with the exported-model contract (uint8 NHWC in, decoded outputs).

    ``dynamic``: a symbolic batch dimension, as ``mtl-export --dynamic`` writes it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec

    rng = np.random.default_rng(seed)
    h, w = input_hw
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def conv(x: str, cin: int, cout: int, stride: int, name: str, relu: bool = True) -> str:
        wgt = const(f"{name}_w", (rng.standard_normal((cout, cin, 3, 3)) * 0.1).astype(np.float32))
        bias = const(f"{name}_b", np.zeros(cout, np.float32))
        nodes.append(helper.make_node("Conv", [x, wgt, bias], [f"{name}_c"], pads=[1, 1, 1, 1],
                                      strides=[stride, stride]))
        if not relu:
            return f"{name}_c"
        nodes.append(helper.make_node("Relu", [f"{name}_c"], [name]))
        return name

    per = 4 + num_classes
    nodes += [
        helper.make_node("Cast", ["image"], ["img_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["img_f", const("inv255", np.array(1 / 255, np.float32))],
                         ["img_n"]),
        helper.make_node("Transpose", ["img_n"], ["x0"], perm=[0, 3, 1, 2]),
    ]
    x = conv("x0", 3, 16, 2, "c1")
    x = conv(x, 16, 32, 2, "c2")
    x = conv(x, 32, 64, 2, "c3")
    x = conv(x, 64, 64, 1, "c4")
    det = conv(x, 64, 3 * per, 1, "det", relu=False)
    anchors = 3 * (h // 8) * (w // 8)
    nodes += [
        helper.make_node("Transpose", [det], ["det_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["det_t", const(
            "det_shape", np.array([-1 if dynamic else 1, anchors, per]))], ["det_r"]),
        helper.make_node("Sigmoid", ["det_r"], ["det_s"]),
        helper.make_node("Split", ["det_s", const("split", np.array([2, 2, num_classes]))],
                         ["xy", "wh", "cls"], axis=2),
        helper.make_node("Mul", ["xy", const("xy_scale", np.array([w, h], np.float32))], ["p1"]),
        helper.make_node("Mul", ["wh", const("wh_scale", np.array([120.0], np.float32))],
                         ["wh_px"]),
        helper.make_node("Add", ["p1", "wh_px"], ["p2"]),
        helper.make_node("Concat", ["p1", "p2"], ["boxes"], axis=2),
        # a trained model is confident about few anchors: scale scores so that only the
        # top few hundred pass the default 0.25 threshold (random weights centre near 0.5)
        helper.make_node("Mul", ["cls", const("cls_scale", np.array(0.30, np.float32))],
                         ["scores"]),
    ]
    for name, k in (("drivable", 3), ("lane", 2)):
        logits = conv(x, 64, k, 1, f"{name}_head", relu=False)
        resize = ([logits, "", const(f"{name}_scales", np.array([1, 1, 8, 8], np.float32))]
                  if dynamic else
                  [logits, "", "", const(f"{name}_size", np.array([1, k, h, w]))])
        nodes += [
            helper.make_node("Resize", resize, [f"{name}_up"], mode="nearest"),
            helper.make_node("ArgMax", [f"{name}_up"], [f"{name}_arg"], axis=1, keepdims=0),
            helper.make_node("Cast", [f"{name}_arg"], [name], to=TensorProto.UINT8),
        ]
    n: Any = "batch" if dynamic else 1
    graph = helper.make_graph(
        nodes, "mtl_random",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [n, h, w, 3])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [n, anchors, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [n, anchors, num_classes]),
         helper.make_tensor_value_info("drivable", TensorProto.UINT8, [n, h, w]),
         helper.make_tensor_value_info("lane", TensorProto.UINT8, [n, h, w])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    classes = ("pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
               "traffic light", "traffic sign")[:num_classes]
    spec = ModelSpec(input_height=h, input_width=w, detection_classes=classes,
                     recipe_name="bench-random")
    helper.set_model_props(model, {METADATA_KEY: spec.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
