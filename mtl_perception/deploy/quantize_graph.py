"""Which nodes of a model ``mtl-quantize`` keeps in float, and whether calibration fits memory.

Why a module of its own: these read only the ONNX graph (no calibration, no ONNX Runtime), so
they are tested on their own and keep quantize.py to the quantization itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx

from mtl_perception.deploy.quantize_checks import QuantizeError

# The stride-2 and stride-4 backbone stages and the low-level projection the segmentation
# heads take directly: quantized, they cost about 1 lane IoU point on the demo model and made
# ONNX Runtime slower on CPU (docs/deployment.md), so they stay float by default.
EARLY_STAGES = ("/model/backbone/stages.0", "/model/backbone/stages.1", "/model/low_level")


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def head_convs(graph: onnx.GraphProto) -> list[str]:
    """The last Conv on every path into a graph output (detection and segmentation logits)."""
    producer = {o: n for n in graph.node for o in n.output}
    found: dict[str, None] = {}
    stack = [o.name for o in graph.output]
    seen: set[str] = set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found[node.name] = None
            continue
        stack.extend(node.input)
    return list(found)


def downstream_of(graph: onnx.GraphProto, names: Iterable[str]) -> list[str]:
    """Every node fed (directly or not) by the nodes ``names``, excluding those nodes."""
    by_name = {n.name: n for n in graph.node}
    consumers = _consumers(graph)
    start = set(names)
    found: dict[str, None] = {}
    stack = [o for n in start for o in by_name[n].output]
    while stack:
        for node in consumers.get(stack.pop(), []):
            if node.name not in found and node.name not in start:
                found[node.name] = None
                stack.extend(node.output)
    return list(found)


def nodes_with_prefix(graph: onnx.GraphProto, prefixes: Iterable[str],
                      required: bool = True) -> list[str]:
    """Names of the nodes under any of these name prefixes.

    ValueError if a ``required`` prefix matches none (a typo would otherwise do nothing).
    """
    found: list[str] = []
    for prefix in prefixes:
        matched = [n.name for n in graph.node if n.name.startswith(prefix)]
        if not matched and required:
            raise QuantizeError(f"--keep-float {prefix!r} matches no node of the model "
                             "(node names look like /model/lane_head/...)")
        found += [m for m in matched if m not in found]
    return found


def name_nodes(proto: onnx.ModelProto) -> None:
    """The quantizer excludes nodes by name, so every node needs a unique one."""
    used: set[str] = set()
    for i, node in enumerate(proto.graph.node):
        if not node.name or node.name in used:
            node.name = f"{node.op_type}_{i}"
        used.add(node.name)


HISTOGRAM_METHODS = ("entropy", "percentile")


def float_activation_bytes(proto: onnx.ModelProto) -> int:
    """Bytes of every float tensor one frame produces (shape inference at the static input)."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    total = 0
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        tensor = info.type.tensor_type
        dims = [d.dim_value for d in tensor.shape.dim]
        if tensor.elem_type == onnx.TensorProto.FLOAT and dims and all(d > 0 for d in dims):
            total += int(np.prod(dims)) * 4
    return total


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_histogram_memory(
    proto: onnx.ModelProto, method: str, frames: int, available: int | None = None
) -> None:
    """Stop before ONNX Runtime's histogram calibrators exhaust memory (they get OOM-killed).

    They keep every activation of every calibration frame until the end: a 384x640 model
    holds ~0.5 GB per frame, so 64 frames need ~33 GB. MinMax merges per frame instead.
    """
    if method not in HISTOGRAM_METHODS:
        return
    per_frame = float_activation_bytes(proto)
    avail = available_memory_bytes() if available is None else available
    if avail is None or per_frame == 0:
        return
    budget = avail // 2
    if per_frame * frames > budget:
        fit = max(1, budget // per_frame)
        raise QuantizeError(
            f"--method {method} keeps every activation of every calibration frame in memory "
            f"(ONNX Runtime's histogram calibrator): up to {frames} frames x "
            f"{per_frame / 1e6:.0f} MB = {per_frame * frames / 1e9:.1f} GB, more than half of "
            f"the {avail / 1e9:.1f} GB available; use --calib-frames {fit} or fewer, or "
            "--method minmax"
        )
