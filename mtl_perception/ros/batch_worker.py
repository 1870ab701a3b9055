"""The inference worker: takes the cameras' waiting frames as one batch and publishes them.

One thread per node. It waits on the cameras' :class:`SlotGroup`; when frames are waiting
it takes at most one per camera (the newest), up to the model's batch limit, in round-robin
order, runs them through :meth:`Pipeline.process_batch` (one forward pass with a
dynamic-batch model, one after another otherwise) and publishes each result on its own
camera's topics with its own header. A frame that arrives alone runs alone: the worker never
waits for other cameras, so a silent camera cannot stall the rest.

With several cameras and a backend that allows concurrent runs on one loaded model
(ONNX Runtime), two threads take batches: while one runs the model, the other does its
frames' host work (letterbox, NMS, mask resizing, publishing). One thread alone leaves the
CPU idle during that work: measured with ``mtl-bench cameras``, one multi-camera node then
answered fewer frames than N single-camera processes. A camera's frame is never in two
threads at once (``SlotGroup.take_batch(hold=True)``), so its outputs stay in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from mtl_perception.inference.pipeline import Pipeline
from mtl_perception.ros.camera_streams import CameraStream, Frame, Settings, stamp
from mtl_perception.ros.diagnostics import BatchStats
from mtl_perception.ros.frame_slot import SlotGroup

# Worker threads for several cameras: one in the model, one in host work. More would only
# queue for the same cores (the model's own thread pool already spans them).
MAX_THREADS = 2


class BatchWorker:
    """Runs ``pipeline`` on the frames of ``streams`` (the slots of ``group``)."""

    def __init__(self, pipeline: Pipeline, streams: Sequence[CameraStream],
                 group: SlotGroup[Frame], settings: Settings, alive: Any) -> None:
        self.pipeline = pipeline
        self.streams = list(streams)
        self.group = group
        self.settings = settings
        self.alive = alive  # () -> bool: False once the node's context is shutting down
        self.limit = max(1, min(pipeline.max_batch, len(self.streams)))
        concurrent = len(self.streams) > 1 and pipeline.backend.thread_safe
        self.threads = MAX_THREADS if concurrent else 1
        self.batches = BatchStats()
        self._running = False
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        self.group.reopen()
        self._running = True
        self._workers = [threading.Thread(target=self._work, name=f"perception_worker{i}",
                                          daemon=True) for i in range(self.threads)]
        for thread in self._workers:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the batches in progress, and forget the frames still waiting."""
        self._running = False
        self.group.close()
        for thread in self._workers:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=timeout)
        self._workers = []
        self.group.clear()

    def _work(self) -> None:
        while self._running:
            taken = self.group.take_batch(self.limit, timeout=0.5, hold=True)
            if taken:
                try:
                    self._run(taken)
                finally:
                    self.group.release(index for index, _ in taken)
                    for _, frame in taken:
                        frame.started.set()  # never leave a callback waiting

    def _run(self, taken: list[tuple[int, Frame]]) -> None:
        start = time.perf_counter()
        streams = [self.streams[i] for i, _ in taken]

        def started() -> None:
            for _, frame in taken:
                frame.started.set()

        try:
            results = self.pipeline.process_batch(
                [(f.image.pixels, f.image.color) for _, f in taken],
                [s.mask_buffers for s in streams], started)
        except Exception as exc:  # one bad inference must not stop the node
            for stream, (_, frame) in zip(streams, taken):
                stream.stats.fail()
                self.settings.warn(f"{stream.name}/inference",
                                   f"{stream.label}inference failed on frame "
                                   f"{stamp(frame.header)}: {type(exc).__name__}: {exc}")
            return
        for first in range(0, len(results), self.pipeline.max_batch):
            size = min(self.pipeline.max_batch, len(results) - first)
            self.batches.record(size, results[first].timings_ms["inference"])
        for stream, (_, frame), result in zip(streams, taken, results):
            try:
                stream.publish(frame, result, start)
            except Exception as exc:
                if not self._running or not self.alive():
                    return
                stream.stats.fail()
                self.settings.warn(f"{stream.name}/publish",
                                   f"{stream.label}publishing failed: "
                                   f"{type(exc).__name__}: {exc}")
