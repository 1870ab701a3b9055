"""The one small interface every inference backend implements."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtl_perception.common.errors import MtlError
from mtl_perception.inference.model_spec import ModelSpec


class BackendError(MtlError, RuntimeError):
    """A backend could not be created or could not run (message says what to fix)."""


@dataclass
class RawOutputs:
    """What one forward pass of an exported model returns, batch dimension removed.

    boxes: float32 [A, 4] xyxy in network-input pixels; scores: float32 [A, C];
    drivable, lane: uint8 [H, W] class ids in network-input space (still letterboxed).
    """

    boxes: np.ndarray
    scores: np.ndarray
    drivable: np.ndarray
    lane: np.ndarray


class Backend(abc.ABC):
    """Loads a model file once, then runs letterboxed uint8 RGB frames through it."""

    name: str = "abstract"
    # Whether run() may be called from several threads at once on one loaded model (one
    # copy of the weights): the node then overlaps one frame's host work with another's
    # inference.
    thread_safe: bool = False

    @property
    @abc.abstractmethod
    def spec(self) -> ModelSpec:
        """The model's self-description (from ONNX metadata or an engine's sidecar)."""

    @abc.abstractmethod
    def run(self, image: np.ndarray) -> RawOutputs:
        """Run one uint8 [H, W, 3] RGB frame already letterboxed to the spec's input size."""

    @property
    def max_batch(self) -> int:
        """Frames one :meth:`run_batch` call runs as one batch (1: the model has a fixed
        batch of 1, so a batch is run one frame after another)."""
        return 1

    def run_batch(self, images: Sequence[np.ndarray]) -> list[RawOutputs]:
        """Run up to :attr:`max_batch` letterboxed frames; one result per frame, in order.

        This default runs them one after another; backends whose model has a dynamic batch
        dimension override it with one forward pass. The outputs own their memory.
        """
        return [self.run(image) for image in images]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory and sessions; safe to call twice."""
