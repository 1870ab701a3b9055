"""Building a serialized TensorRT engine from an exported ONNX model (TensorRT 8.5+ and 10).

Lives in the inference core (no torch) because the node rebuilds a stale engine itself when
it is handed an ONNX file; ``mtl-build-engine`` calls the same function ahead of time.
Needs TensorRT and a GPU; nothing here can run on a machine without them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtl_perception.common.atomic_files import atomic_write_bytes
from mtl_perception.inference.backends.base import BackendError
from mtl_perception.inference.backends.tensorrt.buffers import shape_tuple
from mtl_perception.inference.backends.tensorrt.engine_cache import PRECISIONS
from mtl_perception.inference.backends.tensorrt.env import (
    needs_explicit_batch_flag,
    require_cuda,
    require_tensorrt,
)

if TYPE_CHECKING:
    import tensorrt as trt

LOG = logging.getLogger(__name__)


@dataclass
class BuildOptions:
    """What shapes the engine besides the ONNX file (precision, memory, device)."""

    precision: str = "fp16"
    workspace_mb: int = 1024
    dla_core: int = -1
    max_batch: int = 1  # used only when the ONNX input has a dynamic batch dimension
    timing_cache: Path | None = None
    calibrator: Any = None  # trt.IInt8Calibrator for implicit INT8
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}")
        if self.dla_core >= 0 and self.precision == "fp32":
            raise ValueError("DLA runs only fp16 or int8; choose --precision fp16 or int8")


def network_is_qdq(network: trt.INetworkDefinition) -> bool:
    """True when the parsed network carries Q/DQ layers (explicit INT8 from mtl-quantize)."""
    import tensorrt as trt

    wanted = {trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE}
    return any(network.get_layer(i).type in wanted for i in range(network.num_layers))


def _parse(builder: trt.Builder, onnx_path: Path, version: str, logger: trt.ILogger) -> Any:
    import tensorrt as trt

    flags = 0
    if needs_explicit_batch_flag(version):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes(), str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT {version} could not parse {onnx_path}: {errors}")
    # The parser must outlive the network's use (it owns the weights), so return both.
    return network, parser


def _add_profile(
    builder: trt.Builder, config: trt.IBuilderConfig, network: trt.INetworkDefinition, batch: int
) -> None:
    """Dynamic batch (``mtl-export --dynamic``): optimise for 1, allow up to ``batch``."""
    import tensorrt as trt

    profile = None
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = shape_tuple(tensor.shape)
        if shape and shape[0] < 0:
            profile = profile or builder.create_optimization_profile()
            one, most = trt.Dims([1, *shape[1:]]), trt.Dims([batch, *shape[1:]])
            profile.set_shape(tensor.name, one, one, most)
    if profile is not None:
        config.add_optimization_profile(profile)
        if config.int8_calibrator is not None:
            config.set_calibration_profile(profile)


def _load_timing_cache(config: trt.IBuilderConfig, path: Path | None) -> Any:
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def build_serialized_engine(onnx_path: str | Path, options: BuildOptions) -> bytes:
    """Parse ``onnx_path`` and build an engine plan with ``options``; raises BackendError."""
    version = require_tensorrt()
    require_cuda()
    import tensorrt as trt

    onnx_path = Path(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(builder, onnx_path, version, logger)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    if options.precision in ("fp16", "int8"):
        if not builder.platform_has_fast_fp16:
            LOG.warning("this GPU has no fast FP16; the engine may be slower than expected")
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 engines fall back to FP16, not FP32
    if options.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        if network_is_qdq(network):
            LOG.info("INT8 from the model's Q/DQ nodes (explicit quantization)")
        elif options.calibrator is not None:
            LOG.info("INT8 with the entropy calibrator (implicit quantization)")
            config.int8_calibrator = options.calibrator
        else:
            raise BackendError(
                f"{onnx_path.name} has no Q/DQ nodes and no calibration frames were given: "
                "quantize it with mtl-quantize, or run "
                "mtl-build-engine --precision int8 --calib DIR"
            )
    if options.dla_core >= 0:
        if builder.num_DLA_cores <= options.dla_core:
            raise BackendError(
                f"DLA core {options.dla_core} requested but this device has "
                f"{builder.num_DLA_cores}"
            )
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    _add_profile(builder, config, network, options.max_batch)
    timing = _load_timing_cache(config, options.timing_cache)
    # The stubs say non-None, but TensorRT returns None when the build fails.
    plan: trt.IHostMemory | None = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(f"TensorRT {version} failed to build an engine from {onnx_path}")
    if options.timing_cache is not None:
        atomic_write_bytes(options.timing_cache, bytes(memoryview(timing.serialize())))
    return bytes(memoryview(plan))


@contextlib.contextmanager
def primary_context() -> Iterator[str]:
    """Make GPU 0's primary context current (the one TensorRT uses); yields the GPU name."""
    require_cuda()
    import pycuda.driver as cuda

    device = cuda.Device(0)
    ctx = device.retain_primary_context()
    ctx.push()
    try:
        yield device.name()
    finally:
        cuda.Context.pop()
        ctx.detach()


def make_entropy_calibrator(
    batches: Iterable[np.ndarray], batch_size: int, cache_path: Path
) -> Any:
    """An IInt8EntropyCalibrator2 over uint8 NHWC batches, with a calibration cache file.

    The class is defined here because its base class exists only once tensorrt imports.
    With a cache file present TensorRT reads the scales from it and skips the frames.
    """
    require_tensorrt()
    require_cuda()
    import pycuda.driver as cuda
    import tensorrt as trt

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches: Iterator[np.ndarray] = iter(batches)
            self._device: cuda.DeviceAllocation | None = None
            self.seen = 0

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:  # type: ignore[override]
            batch = next(self._batches, None)
            if batch is None:
                return None
            host = np.ascontiguousarray(batch)
            if self._device is None:
                self._device = cuda.mem_alloc(host.nbytes)
            cuda.memcpy_htod(self._device, host)
            self.seen += len(host)
            return [int(self._device)]  # the network has exactly one input

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            atomic_write_bytes(cache_path, bytes(memoryview(cache)))

    return EntropyCalibrator()
