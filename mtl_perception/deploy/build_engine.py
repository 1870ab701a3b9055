"""``mtl-build-engine``: build (or reuse) the TensorRT engine for an exported model, on the device.

Uses the same engine cache as the node
(:mod:`mtl_perception.inference.backends.tensorrt.engine_cache`): it builds only when no
engine matches the ONNX file's sha256, the precision, the TensorRT version and the GPU; it
writes the engine and its sidecar atomically and keeps a timing cache. INT8 comes from the
model's Q/DQ nodes (``mtl-quantize``) or, for a plain model, from TensorRT's entropy
calibrator over ``--calib`` frames (with a calibration cache).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mtl_perception.common.atomic_files import atomic_write_text, file_sha256
from mtl_perception.common.cli_args import ArgumentParser, add_out, positive_int, run_cli
from mtl_perception.common.errors import MtlError
from mtl_perception.inference.backends.tensorrt.engine_cache import (
    PRECISIONS,
    EngineCache,
    EngineKey,
)
from mtl_perception.inference.backends.tensorrt.env import tensorrt_available

LOG = logging.getLogger("mtl-build-engine")


class EngineBuildError(MtlError, RuntimeError):
    """No engine can be built here, or the build failed (one line, exit 1)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="mtl-build-engine", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="ONNX file written by mtl-export/quantize")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16")
    parser.add_argument("--calib", help="image folder or rosbag2 bag (implicit INT8 only)")
    parser.add_argument("--calib-topic", help="image topic in the bag (default: busiest)")
    parser.add_argument("--calib-frames", type=positive_int, default=500,
                        help="frames to calibrate on")
    parser.add_argument("--calib-every", type=positive_int, default=1,
                        help="use every n-th frame")
    parser.add_argument("--calib-batch", type=positive_int, default=8,
                        help="calibration batch size")
    parser.add_argument("--workspace", type=int, default=1024, help="builder workspace, MB")
    parser.add_argument("--dla", type=int, default=-1, help="DLA core (Xavier NX: 0 or 1)")
    parser.add_argument("--max-batch", type=int, default=1, help="for --dynamic exports")
    parser.add_argument("--cache-dir", help="engine cache (default: $MTL_ENGINE_CACHE or "
                        "~/.cache/mtl_perception/engines)")
    add_out(parser, help="also copy the engine (and .json sidecar) here")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    if args.dla >= 0 and args.precision == "fp32":
        parser.error("DLA runs fp16 or int8 only")
    if args.calib and args.precision != "int8":
        parser.error("--calib only applies to --precision int8")
    return args


def _build(args: argparse.Namespace, cache: EngineCache, key: EngineKey, spec_hw: tuple[int, int],
           pad: int) -> bytes:
    from mtl_perception.inference.backends.tensorrt.builder import (
        BuildOptions,
        build_serialized_engine,
        make_entropy_calibrator,
    )

    options = BuildOptions(args.precision, args.workspace, args.dla, args.max_batch,
                           cache.timing_cache_path(key.trt_version, key.gpu_name))
    if args.calib:
        from mtl_perception.deploy.calibration import calibration_batches

        batches = calibration_batches(args.calib, spec_hw, args.calib_batch,
                                      args.calib_frames, args.calib_every, pad, args.calib_topic)
        calib_cache = cache.calibration_cache_path(key.onnx_sha256, key.trt_version)
        options.calibrator = make_entropy_calibrator(batches, args.calib_batch, calib_cache)
        LOG.info("calibration cache: %s", calib_cache)
    return build_serialized_engine(args.model, options)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    ok, message = tensorrt_available()
    if not ok:
        raise EngineBuildError(f"cannot build here: {message}")
    from mtl_perception.inference.backends.tensorrt.builder import primary_context
    from mtl_perception.inference.backends.tensorrt.env import require_tensorrt
    from mtl_perception.inference.onnx_metadata import read_model_spec

    model = Path(args.model)
    try:
        spec = read_model_spec(model)
        cache = EngineCache(args.cache_dir)
        with primary_context() as gpu_name:
            key = EngineKey(file_sha256(model), args.precision, require_tensorrt(), gpu_name,
                            args.dla)
            lookup = cache.lookup(model.stem, key)
            if lookup.hit and not args.force:
                LOG.info("engine up to date: %s", lookup.engine_path)
            else:
                LOG.info("building %s engine for %s on %s, TensorRT %s (%s)", args.precision,
                         model.name, gpu_name, key.trt_version,
                         "forced" if lookup.hit else lookup.reason)
                start = time.monotonic()
                plan = _build(args, cache, key, (spec.input_height, spec.input_width),
                              spec.pad_value)
                lookup = cache.store(model.stem, key, plan, spec, {
                    "workspace_mb": args.workspace, "calibrated": bool(args.calib),
                    "build_seconds": round(time.monotonic() - start, 1)})
                LOG.info("built in %.0f s: %s", time.monotonic() - start, lookup.engine_path)
    except (OSError, ValueError) as exc:
        if isinstance(exc, MtlError):  # ModelSpecError: already one line for the user
            raise
        raise EngineBuildError(str(exc)) from exc
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.copyfile(lookup.engine_path, tmp)
        tmp.replace(out)
        atomic_write_text(out.with_suffix(".json"), lookup.sidecar_path.read_text())
        LOG.info("copied to %s (+ %s)", out, out.with_suffix(".json").name)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("mtl-build-engine", main))
