"""Fixture process: the real perception node, with fault injection around its backend.

Behaves exactly like ``perception_node`` except that the backend raises on an all-white
frame (to test that one failing frame does not stop the node) and sleeps 1 s on an all-100
frame (to test latest-frame dropping).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from mtl_perception.inference.backends.base import Backend, RawOutputs
from mtl_perception.inference.model_spec import ModelSpec
from mtl_perception.ros import perception_node


class FaultInjectingBackend(Backend):
    name = "onnxruntime+faults"

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    @property
    def spec(self) -> ModelSpec:
        return self.inner.spec

    def run(self, image: np.ndarray) -> RawOutputs:
        centre = image[image.shape[0] // 2, image.shape[1] // 2]
        if (centre == 255).all():
            raise RuntimeError("injected backend fault")
        if (centre == 100).all():
            time.sleep(1.0)
        return self.inner.run(image)

    def close(self) -> None:
        self.inner.close()


_real_load = perception_node.load_backend
perception_node.load_backend = lambda *a, **k: FaultInjectingBackend(_real_load(*a, **k))

if __name__ == "__main__":
    sys.exit(perception_node.main())
