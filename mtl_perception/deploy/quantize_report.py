"""``mtl-quantize``'s report: INT8 against FP32 in accuracy, latency and size.

Accuracy comes from the one evaluation pipeline (``mtl-offline``'s ``run_offline``, which
feeds :class:`~mtl_perception.evaluation.evaluator.Evaluator`); latency from the one latency
measurement (:mod:`mtl_perception.deploy.latency`: interleaved runs with the node's ONNX
Runtime session options).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl_perception.deploy.calibration import calibration_batches
from mtl_perception.deploy.latency import ort_session, time_interleaved
from mtl_perception.deploy.quantize_checks import QuantizeError
from mtl_perception.inference.model_spec import ModelSpec
from mtl_perception.inference.onnx_metadata import read_model_spec


def evaluate_onnx(
    path: str | Path, data_root: str | Path, split: str = "val", limit: int | None = None
) -> dict[str, Any]:
    """Metrics of an exported model on a labelled BDD-layout split.

    The model runs through mtl-offline's path (the node's Pipeline, source-size masks) at
    the yolop protocol's NMS thresholds, and :mod:`mtl_perception.evaluation` scores it.
    """
    import tempfile

    from mtl_perception.evaluation.detection import (
        YOLOP_CONF,
        YOLOP_MAX_DETECTIONS,
        YOLOP_NMS_IOU,
    )
    from mtl_perception.evaluation.groundtruth import GroundTruth
    from mtl_perception.evaluation.offline import OfflineOptions, run_offline
    from mtl_perception.inference.backends import load_backend
    from mtl_perception.inference.pipeline import Pipeline
    from mtl_perception.io.sources import open_source

    root = Path(data_root)
    truth = GroundTruth.from_bdd_root(root, split)
    pipeline = Pipeline(load_backend(path, "onnxruntime"), conf=YOLOP_CONF, iou=YOLOP_NMS_IOU,
                        max_det=YOLOP_MAX_DETECTIONS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            opts = OfflineOptions(Path(tmp), video=False, max_frames=limit, progress=False)
            result = run_offline(open_source(root / "images" / "100k" / split), pipeline, opts,
                                 truth)
    finally:
        pipeline.close()
    if result.metrics is None:
        raise QuantizeError(f"no labelled frames in {root} split {split!r}")
    return result.metrics


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers the report compares, in points (0-100)."""
    from mtl_perception.evaluation.evaluator import headline as numbers

    h = numbers(metrics)
    keys = {
        "vehicle_map50": "vehicle_ap50",
        "map50": "map50_all_classes",
        "drivable_miou": "drivable_miou",
        "lane_iou": "lane_iou",
        "bdd100k_ap": "bdd100k_det_ap",
        "bdd100k_drivable_miou": "bdd100k_drivable_miou",
    }
    return {k: round(100.0 * float(h[v] or 0.0), 2) for k, v in keys.items()}


def build_report(
    fp32: Path, int8: Path, info: dict[str, Any], calib: str | Path,
    eval_data: str | Path | None, eval_split: str, eval_limit: int | None, runs: int,
) -> dict[str, Any]:
    """Accuracy delta (if labelled data), speed ratio and size ratio of INT8 vs FP32."""
    spec: ModelSpec = read_model_spec(fp32)
    frame = next(calibration_batches(calib, (spec.input_height, spec.input_width), 1,
                                     pad_value=spec.pad_value))[0]
    sessions = {"fp32": ort_session(fp32), "int8": ort_session(int8)}
    fns = {k: (lambda s=s: s.run(None, {s.get_inputs()[0].name: frame[None]}))
           for k, s in sessions.items()}
    stats = time_interleaved(fns, runs, 3, 600.0)
    latency = {k: {"p50_ms": round(v["p50"], 2), "p99_ms": round(v["p99"], 2), "n": v["n"]}
               for k, v in stats.items()}
    report: dict[str, Any] = {
        "models": {"fp32": str(fp32), "int8": str(int8)},
        "input": [spec.input_height, spec.input_width],
        "quantization": info,
        "latency": latency,
        "speed_ratio": round(latency["fp32"]["p50_ms"] / latency["int8"]["p50_ms"], 3),
        "size_ratio": round(int8.stat().st_size / fp32.stat().st_size, 3),
        "sizes_mb": {"fp32": round(fp32.stat().st_size / 1e6, 2),
                     "int8": round(int8.stat().st_size / 1e6, 2)},
    }
    if eval_data:
        a = headline(evaluate_onnx(fp32, eval_data, eval_split, eval_limit))
        b = headline(evaluate_onnx(int8, eval_data, eval_split, eval_limit))
        report["accuracy"] = {"split": f"{eval_data}:{eval_split}", "fp32": a, "int8": b,
                              "delta_points": {k: round(b[k] - a[k], 2) for k in a}}
    return report
