"""TensorRT backend (Jetson): cached engines, pinned buffers, one CUDA stream.

Given an ``.onnx`` file it looks the engine up in the :mod:`engine_cache` and builds it only
when none matches (logging why); given an ``.engine``/``.plan`` it reads the sidecar JSON
next to it. All buffers are allocated once; each frame is one async H2D copy, one enqueue
and four small D2H copies (the masks are uint8 argmaxes, decoded in the graph).

Batches (the multi-camera node): an ONNX file exported with ``mtl-export --dynamic`` is
built with one optimization profile (min 1, opt 1, max ``max_batch``); the buffers are sized
for the profile's maximum, read back from the engine, and :meth:`TensorRTBackend.run_batch`
sets the input shape to the batch's size and copies only that many images each way. Written
against the TensorRT 8.5/8.6 bindings API and the 10.x tensor API as documented; it has not
run on a GPU here (no TensorRT on the development machines).

tensorrt and pycuda are imported lazily, so this module imports on machines without them;
constructing the backend there raises BackendError with the install hint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mtl_perception.common.atomic_files import file_sha256
from mtl_perception.inference.backends.base import Backend, BackendError, RawOutputs
from mtl_perception.inference.backends.tensorrt.buffers import (
    IOPlan,
    TensorInfo,
    plan_buffers,
    raw_outputs,
    shape_tuple,
)
from mtl_perception.inference.backends.tensorrt.builder import BuildOptions, build_serialized_engine
from mtl_perception.inference.backends.tensorrt.engine_cache import (
    EngineCache,
    EngineKey,
    Sidecar,
)
from mtl_perception.inference.backends.tensorrt.env import (
    require_cuda,
    require_tensorrt,
    tensorrt_available,
    uses_tensor_api,
)
from mtl_perception.inference.model_spec import ModelSpec, ModelSpecError
from mtl_perception.inference.onnx_metadata import read_model_spec

if TYPE_CHECKING:
    import pycuda.driver as cuda
    import tensorrt as trt

__all__ = ["TensorRTBackend", "tensorrt_available"]

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


class Logger(Protocol):
    """Both ``logging.Logger`` and an rclpy node logger satisfy this."""

    def info(self, msg: str) -> Any: ...

    def warning(self, msg: str) -> Any: ...


def engine_tensors(engine: trt.ICudaEngine, tensor_api: bool) -> list[TensorInfo]:
    """The engine's I/O tensors through whichever API this TensorRT version has."""
    import tensorrt as trt

    infos = []
    if tensor_api:
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            infos.append(
                TensorInfo(
                    name=name,
                    shape=shape_tuple(engine.get_tensor_shape(name)),
                    dtype=engine.get_tensor_dtype(name).name,
                    is_input=engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                )
            )
        return infos
    legacy: Any = engine  # TensorRT 8.x bindings API: removed in 10, so absent from the stubs
    for i in range(legacy.num_bindings):
        infos.append(
            TensorInfo(
                name=legacy.get_binding_name(i),
                shape=shape_tuple(legacy.get_binding_shape(i)),
                dtype=legacy.get_binding_dtype(i).name,
                is_input=bool(legacy.binding_is_input(i)),
            )
        )
    return infos


def profile_max_batch(engine: trt.ICudaEngine, input_name: str, input_index: int,
                      tensor_api: bool) -> int:
    """The largest batch the engine's optimization profile 0 allows for its image input.

    TensorRT 10 (and 8.5+): ``get_tensor_profile_shape(name, profile)`` -> [min, opt, max];
    the 8.x bindings API: ``get_profile_shape(profile, binding)`` -> the same three shapes.
    """
    if tensor_api:
        shapes = engine.get_tensor_profile_shape(input_name, 0)
    else:
        legacy: Any = engine
        shapes = legacy.get_profile_shape(0, input_index)
    return max(1, int(shape_tuple(shapes[2])[0]))


class TensorRTBackend(Backend):
    """Runs an exported model with TensorRT; see the module docstring for the data path."""

    name = "tensorrt"

    def __init__(
        self,
        model_path: str | Path,
        cache_dir: str | Path | None = None,
        precision: str = "fp16",
        logger: Logger | None = None,
        dla_core: int = -1,
        workspace_mb: int = 1024,
        max_batch: int = 1,
    ) -> None:
        """``max_batch``: the optimization profile's maximum when an engine is built from a
        dynamic-batch ONNX file (the multi-camera node passes its number of cameras)."""
        self._log: Logger = logger or logging.getLogger(__name__)
        self._closed = True
        version = require_tensorrt()
        require_cuda()
        import pycuda.driver as cuda
        import tensorrt as trt

        self._tensor_api = uses_tensor_api(version)
        self._device = cuda.Device(0)
        # The primary context is the one TensorRT's runtime API uses; pushing it around every
        # call keeps the backend usable from whichever thread the node runs inference on.
        self._ctx: cuda.Context | None = self._device.retain_primary_context()
        self._ctx.push()
        try:
            self._trt_logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(self._trt_logger)
            path = Path(model_path)
            if path.suffix.lower() == ".onnx":
                cache = EngineCache(cache_dir)
                options = BuildOptions(precision, workspace_mb, dla_core,
                                       max_batch=max(1, int(max_batch)))
                self._engine, self._spec = self._from_onnx(path, cache, options, version)
            elif path.suffix.lower() in ENGINE_SUFFIXES:
                self._engine, self._spec = self._from_engine_file(path, version)
            else:
                raise BackendError(f"{path}: expected an .onnx or .engine file")
            self._setup_buffers()
            self._closed = False
        finally:
            cuda.Context.pop()

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    # -- loading -----------------------------------------------------------------------------
    def _deserialize(self, plan: bytes) -> trt.ICudaEngine | None:
        """None when the plan does not fit this TensorRT/GPU (TensorRT logs the detail)."""
        engine: trt.ICudaEngine | None = self._runtime.deserialize_cuda_engine(plan)
        return engine

    def _from_onnx(
        self, onnx_path: Path, cache: EngineCache, options: BuildOptions, version: str
    ) -> tuple[trt.ICudaEngine, ModelSpec]:
        try:
            spec = read_model_spec(onnx_path)
        except (OSError, ModelSpecError) as exc:
            raise BackendError(str(exc)) from exc
        key = EngineKey(
            onnx_sha256=file_sha256(onnx_path),
            precision=options.precision,
            trt_version=version,
            gpu_name=self._device.name(),
            dla_core=options.dla_core,
            max_batch=options.max_batch,
        )
        model_name = onnx_path.stem
        lookup = cache.lookup(model_name, key)
        if lookup.hit:
            engine = self._deserialize(lookup.engine_path.read_bytes())
            if engine is not None:
                self._log.info(f"TensorRT: reusing cached engine {lookup.engine_path}")
                return engine, spec
            reason = f"cached engine {lookup.engine_path.name} failed to deserialize"
            cache.invalidate(model_name, key)
        else:
            reason = lookup.reason
        self._log.warning(
            f"TensorRT: building a {options.precision} engine for {onnx_path.name} ({reason}); "
            "this takes minutes on a Jetson and happens once"
        )
        options.timing_cache = cache.timing_cache_path(version, key.gpu_name)
        plan = build_serialized_engine(onnx_path, options)
        stored = cache.store(model_name, key, plan, spec, {"workspace_mb": options.workspace_mb})
        engine = self._deserialize(plan)
        if engine is None:
            raise BackendError(f"TensorRT could not load the engine it just built from {onnx_path}")
        self._log.info(f"TensorRT: engine cached at {stored.engine_path}")
        return engine, spec

    def _from_engine_file(self, path: Path, version: str) -> tuple[trt.ICudaEngine, ModelSpec]:
        sidecar_path = path.with_suffix(".json")
        try:
            sidecar = Sidecar.from_json(sidecar_path.read_text())
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(
                f"{path} needs its sidecar {sidecar_path.name} (written by mtl-build-engine): "
                f"{exc}"
            ) from exc
        engine = self._deserialize(path.read_bytes())
        if engine is None:
            raise BackendError(
                f"{path} failed to deserialize: it was built with TensorRT "
                f"{sidecar.key.trt_version} on {sidecar.key.gpu_name!r}; this is TensorRT "
                f"{version} on {self._device.name()!r}. Pass the .onnx file instead to rebuild"
                " automatically, or run mtl-build-engine again"
            )
        return engine, sidecar.spec

    def _setup_buffers(self) -> None:
        import pycuda.driver as cuda

        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise BackendError("TensorRT could not create an execution context (out of memory?)")
        infos = engine_tensors(self._engine, self._tensor_api)
        dynamic = {i.name for i in infos if i.is_input and i.shape and i.shape[0] < 0}
        self._max_batch = 1
        if self._spec.input_name in dynamic:
            index = next(k for k, i in enumerate(infos) if i.name == self._spec.input_name)
            self._max_batch = profile_max_batch(self._engine, self._spec.input_name, index,
                                                self._tensor_api)
        self._dynamic = dynamic
        self._batch_set = self._max_batch  # the input shape the context has now
        self._plan: IOPlan = plan_buffers(infos, self._spec, batch=self._max_batch)
        self._host: dict[str, np.ndarray] = {}
        self._dev: dict[str, cuda.DeviceAllocation] = {}
        for buf in self._plan.buffers:
            self._host[buf.name] = cuda.pagelocked_empty(buf.shape, buf.dtype)
            self._dev[buf.name] = cuda.mem_alloc(buf.nbytes)
        self._stream = cuda.Stream()
        if self._tensor_api:
            for buf in self._plan.buffers:
                if buf.name in dynamic:
                    self._context.set_input_shape(buf.name, buf.shape)
                self._context.set_tensor_address(buf.name, int(self._dev[buf.name]))
            self._bindings: list[int] = []
        else:
            legacy: Any = self._context
            for index, buf in enumerate(self._plan.buffers):
                if buf.name in dynamic:
                    legacy.set_binding_shape(index, buf.shape)
            self._bindings = [int(self._dev[b.name]) for b in self._plan.buffers]
        self._input = self._plan.inputs[0]

    # -- running -----------------------------------------------------------------------------
    @property
    def max_batch(self) -> int:
        return self._max_batch

    def run(self, image: np.ndarray) -> RawOutputs:
        return self.run_batch([image])[0]

    def _set_batch(self, n: int) -> None:
        """Set the dynamic input's batch dimension to ``n`` (only when it changes)."""
        if not self._dynamic or n == self._batch_set:
            return
        shape = (n, *self._input.shape[1:])
        if self._tensor_api:
            ok = self._context.set_input_shape(self._input.name, shape)
        else:
            legacy: Any = self._context
            ok = legacy.set_binding_shape(self._plan.buffers.index(self._input), shape)
        if not ok:
            raise BackendError(f"TensorRT refused input shape {shape}")
        self._batch_set = n

    def run_batch(self, images: Sequence[np.ndarray]) -> list[RawOutputs]:
        import pycuda.driver as cuda

        if self._closed or self._ctx is None:
            raise BackendError("TensorRT backend is closed")
        n = len(images)
        if not 1 <= n <= self._max_batch:
            raise BackendError(f"batch of {n}; this engine runs 1..{self._max_batch}")
        want = self._input.shape[1:]
        for image in images:
            if image.shape != want or image.dtype != np.uint8:
                raise BackendError(f"expected uint8 {want} letterboxed RGB, got {image.dtype} "
                                   f"{image.shape}")
        self._ctx.push()
        try:
            self._set_batch(n)
            host_in = self._host[self._input.name]
            for i, image in enumerate(images):
                np.copyto(host_in[i], image)
            cuda.memcpy_htod_async(self._dev[self._input.name], host_in[:n], self._stream)
            if self._tensor_api:
                ok = self._context.execute_async_v3(self._stream.handle)
            else:
                legacy: Any = self._context
                ok = legacy.execute_async_v2(self._bindings, self._stream.handle)
            if not ok:
                raise BackendError("TensorRT enqueue failed")
            for buf in self._plan.outputs:  # batch-major: the first n rows are this batch's
                cuda.memcpy_dtoh_async(self._host[buf.name][:n], self._dev[buf.name],
                                       self._stream)
            self._stream.synchronize()
        finally:
            cuda.Context.pop()
        results = []
        for i in range(n):
            out = raw_outputs(self._host, self._spec, i)
            # The pinned buffers are overwritten by the next batch; hand out copies (< 1 MB).
            results.append(RawOutputs(out.boxes.copy(), out.scores.copy(), out.drivable.copy(),
                                      out.lane.copy()))
        return results

    def close(self) -> None:
        if self._closed or self._ctx is None:
            return
        import pycuda.driver as cuda

        self._ctx.push()
        try:
            for allocation in self._dev.values():
                allocation.free()
            self._dev.clear()
            del self._context
            del self._engine
        finally:
            cuda.Context.pop()
        self._ctx.detach()
        self._ctx = None
        self._closed = True
