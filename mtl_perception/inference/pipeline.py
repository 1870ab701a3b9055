"""Frames through the model: letterbox -> backend -> NMS -> un-letterbox.

The node and the offline runner both call :class:`Pipeline`, so a result computed offline is
the result the node would publish. :meth:`Pipeline.process_batch` runs several frames (one
per camera) through one backend call when the model has a dynamic batch dimension.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Callable as TypingCallable
from typing import Tuple

import numpy as np

from mtl_perception.inference.backends.base import Backend
from mtl_perception.inference.letterbox import Letterbox
from mtl_perception.inference.model_spec import ModelSpec
from mtl_perception.inference.postprocess import (
    Detections,
    Thresholds,
    masks_to_source,
    postprocess_detections,
    resolve_classes,
)
from mtl_perception.inference.preprocess import Preprocessor

STAGES = ("preprocess", "inference", "postprocess")
# typing's generics: this alias is evaluated at import, and Python 3.8 cannot subscript
# collections.abc.Callable or tuple
MaskBuffers = TypingCallable[[Tuple[int, int]], Tuple[np.ndarray, np.ndarray]]


@dataclass
class FrameResult:
    """Everything one frame produced, in the original image's geometry."""

    detections: Detections
    drivable: np.ndarray  # uint8 [H, W] class ids (see docs/architecture.md)
    lane: np.ndarray  # uint8 [H, W] class ids
    letterbox: Letterbox
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage + "total"


class Pipeline:
    """Holds a backend, its reused input buffer and the current thresholds.

    ``conf``/``iou``/``max_det`` default to the model's own NMS defaults; ``classes`` filters
    detections by id or name. :meth:`set_thresholds` may be called from another thread while
    :meth:`process` runs: the settings are swapped as one immutable object.
    """

    def __init__(
        self,
        backend: Backend,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        classes: Sequence[int | str] | None = None,
    ) -> None:
        self.backend = backend
        self.spec: ModelSpec = backend.spec
        # one letterbox canvas per batch position and calling thread (each is reused, frame
        # after frame; a worker thread never shares one with another)
        self._local = threading.local()
        defaults = self.spec.nms
        self.thresholds = Thresholds(
            confidence=defaults.confidence_threshold if conf is None else float(conf),
            iou=defaults.iou_threshold if iou is None else float(iou),
            max_detections=defaults.max_detections if max_det is None else int(max_det),
            classes=resolve_classes(classes, self.spec.detection_classes),
        )

    def _new_preprocessor(self) -> Preprocessor:
        return Preprocessor((self.spec.input_height, self.spec.input_width), self.spec.pad_value)

    @property
    def max_batch(self) -> int:
        """Frames the backend runs in one forward pass (1 without a dynamic batch)."""
        return max(1, int(self.backend.max_batch))

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.detection_classes

    def set_thresholds(
        self, conf: float | None = None, iou: float | None = None, max_det: int | None = None
    ) -> Thresholds:
        """Validate and swap in new thresholds (None keeps a value).

        Raises ValueError with the reason when a value is out of range; nothing changes then.
        """
        current = self.thresholds
        self.thresholds = Thresholds(
            confidence=current.confidence if conf is None else float(conf),
            iou=current.iou if iou is None else float(iou),
            max_detections=current.max_detections if max_det is None else int(max_det),
            classes=current.classes,
        )
        return self.thresholds

    def set_classes(self, classes: Sequence[int | str] | None) -> Thresholds:
        """Keep only these class ids or names (None/empty: all); ValueError if unknown."""
        current = self.thresholds
        self.thresholds = Thresholds(
            current.confidence, current.iou, current.max_detections,
            resolve_classes(classes, self.spec.detection_classes),
        )
        return self.thresholds

    def process(
        self,
        image: np.ndarray,
        color: str = "rgb",
        mask_buffers: MaskBuffers | None = None,
        before_inference: Callable[[], None] | None = None,
    ) -> FrameResult:
        """Run one uint8 HxWx3 frame (``color`` 'rgb' or 'bgr'); outputs at the frame's size.

        ``mask_buffers(hw)`` may hand out the two uint8 HxW arrays the drivable and lane masks
        are written into (the node passes its outgoing messages' buffers, saving two copies).
        ``before_inference()`` is called once the input is ready, just before the backend runs.
        """
        return self.process_batch([(image, color)], [mask_buffers], before_inference)[0]

    def process_batch(
        self,
        frames: Sequence[tuple[np.ndarray, str]],
        mask_buffers: Sequence[MaskBuffers | None] | None = None,
        before_inference: Callable[[], None] | None = None,
    ) -> list[FrameResult]:
        """Run ``(image, color)`` frames; one result per frame, in order.

        Up to :attr:`max_batch` frames go through one backend call; more (or any number, for
        a model with a fixed batch of 1) run in consecutive calls. Each result's timings are
        its own pre- and post-processing and the inference time of the call it was part of.
        ``before_inference`` is called once, when the first call's inputs are ready.
        """
        thresholds = self.thresholds
        buffers = list(mask_buffers) if mask_buffers is not None else [None] * len(frames)
        if len(buffers) != len(frames):
            raise ValueError(f"{len(buffers)} mask buffer sources for {len(frames)} frames")
        pres: list[Preprocessor] = self._local.__dict__.setdefault("pres", [])
        while len(pres) < min(len(frames), self.max_batch):
            pres.append(self._new_preprocessor())
        results: list[FrameResult] = []
        step = self.max_batch
        for first in range(0, len(frames), step):
            chunk = frames[first:first + step]
            inputs, geometries, pre_ms = [], [], []
            for (image, color), pre in zip(chunk, pres):
                t0 = time.perf_counter()
                net_input, geometry = pre(image, color)
                inputs.append(net_input)
                geometries.append(geometry)
                pre_ms.append((time.perf_counter() - t0) * 1e3)
            if before_inference is not None and first == 0:
                before_inference()
            t1 = time.perf_counter()
            raws = [self.backend.run(inputs[0])] if len(inputs) == 1 else \
                self.backend.run_batch(inputs)
            infer_ms = (time.perf_counter() - t1) * 1e3
            for raw, geometry, pre_time, source in zip(raws, geometries, pre_ms,
                                                        buffers[first:first + step]):
                t2 = time.perf_counter()
                detections = postprocess_detections(
                    raw.boxes, raw.scores, geometry, thresholds, self.spec.detection_classes
                )
                out = source((geometry.source_height, geometry.source_width)) \
                    if source is not None else None
                drivable, lane = masks_to_source(raw.drivable, raw.lane, geometry, out)
                post_ms = (time.perf_counter() - t2) * 1e3
                timings = {"preprocess": pre_time, "inference": infer_ms,
                           "postprocess": post_ms, "total": pre_time + infer_ms + post_ms}
                results.append(FrameResult(detections, drivable, lane, geometry, timings))
        return results

    def close(self) -> None:
        self.backend.close()
