"""One frame through the model: letterbox -> backend -> NMS -> un-letterbox.

The node and the offline runner both call :class:`Pipeline`, so a result computed offline is
the result the node would publish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
        self._pre = Preprocessor((self.spec.input_height, self.spec.input_width),
                                 self.spec.pad_value)
        defaults = self.spec.nms
        self.thresholds = Thresholds(
            confidence=defaults.confidence_threshold if conf is None else float(conf),
            iou=defaults.iou_threshold if iou is None else float(iou),
            max_detections=defaults.max_detections if max_det is None else int(max_det),
            classes=resolve_classes(classes, self.spec.detection_classes),
        )

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
        mask_buffers: Callable[[tuple[int, int]], tuple[np.ndarray, np.ndarray]] | None = None,
        before_inference: Callable[[], None] | None = None,
    ) -> FrameResult:
        """Run one uint8 HxWx3 frame (``color`` 'rgb' or 'bgr'); outputs at the frame's size.

        ``mask_buffers(hw)`` may hand out the two uint8 HxW arrays the drivable and lane masks
        are written into (the node passes its outgoing messages' buffers, saving two copies).
        ``before_inference()`` is called once the input is ready, just before the backend runs.
        """
        thresholds = self.thresholds
        t0 = time.perf_counter()
        net_input, geometry = self._pre(image, color)
        if before_inference is not None:
            before_inference()
        t1 = time.perf_counter()
        raw = self.backend.run(net_input)
        t2 = time.perf_counter()
        detections = postprocess_detections(
            raw.boxes, raw.scores, geometry, thresholds, self.spec.detection_classes
        )
        out = mask_buffers((geometry.source_height, geometry.source_width)) \
            if mask_buffers is not None else None
        drivable, lane = masks_to_source(raw.drivable, raw.lane, geometry, out)
        t3 = time.perf_counter()
        timings = {
            "preprocess": (t1 - t0) * 1e3,
            "inference": (t2 - t1) * 1e3,
            "postprocess": (t3 - t2) * 1e3,
            "total": (t3 - t0) * 1e3,
        }
        return FrameResult(detections, drivable, lane, geometry, timings)

    def close(self) -> None:
        self.backend.close()
