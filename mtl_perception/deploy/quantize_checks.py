"""``mtl-quantize``'s up-front checks and log hygiene, done before any calibration."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

from mtl_perception.common.errors import MtlError

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
                     "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"})


class QuantizeError(MtlError, ValueError):
    """The model, the options or the data cannot be quantized as asked (one line, exit 1)."""


def refuse_quantized(proto: onnx.ModelProto, path: str | Path, quant_key: str) -> None:
    """ValueError (one line) for a model that is already quantized: ONNX Runtime would grind
    through it for minutes, complaining about every bias."""
    ops = sorted({n.op_type for n in proto.graph.node} & QDQ_OPS)
    marked = any(p.key == quant_key for p in proto.metadata_props)
    if ops or marked:
        why = f"it has {', '.join(ops)} nodes" if ops else "its metadata says so"
        raise QuantizeError(f"{path} is already quantized ({why}); give mtl-quantize the FP32 "
                         "model that mtl-export wrote")


def check_eval_data(root: str | Path | None, split: str) -> None:
    """ValueError (one line) unless ``root`` holds ``split`` in BDD100K layout."""
    if not root:
        return
    from mtl_perception.training.data.dataset import IMAGE_SUFFIXES, bdd_paths

    root = Path(root)
    if not root.is_dir():
        raise QuantizeError(f"--eval-data {root}: no such directory")
    paths = bdd_paths(root, split)
    images = paths["images"]
    if not images.is_dir() or not any(p.suffix.lower() in IMAGE_SUFFIXES
                                      for p in images.iterdir()):
        raise QuantizeError(f"--eval-data {root}: no images in {images} (BDD100K layout; "
                         f"--eval-split {split})")
    if not paths["det"].is_file():
        raise QuantizeError(f"--eval-data {root}: no detection labels {paths['det']}")


def quiet_logs(verbose: bool) -> None:
    """Our INFO lines only: ONNX Runtime's quantizer logs its advice through the root logger
    (``root: Please consider pre-processing ...``) and its C++ core logs on its own; both
    show only with ``verbose``."""
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR,
                        format="%(name)s: %(message)s")
    logging.getLogger("mtl-quantize").setLevel(logging.INFO)
    if not verbose:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)  # errors only
