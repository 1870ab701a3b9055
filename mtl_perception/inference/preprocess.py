"""Letterbox a camera frame into one reused network-input buffer.

The node handles every frame of a stream with the same size, so the geometry is computed
once per source size and the uint8 canvas is allocated once: per-frame pre-processing is a
single resize (plus an in-place colour swap on the small image when the input is BGR).
"""

from __future__ import annotations

import cv2
import numpy as np

from mtl_perception.common.constants import PAD_VALUE
from mtl_perception.inference.letterbox import Letterbox

COLOR_ORDERS = ("rgb", "bgr")


class Preprocessor:
    """Resize-and-pad into a buffer owned by this object (valid until the next call)."""

    def __init__(self, input_hw: tuple[int, int], pad_value: int = PAD_VALUE) -> None:
        if input_hw[0] <= 0 or input_hw[1] <= 0:
            raise ValueError(f"bad network input size {input_hw}")
        if not 0 <= pad_value <= 255:
            raise ValueError(f"pad value {pad_value} is outside 0..255")
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self.pad_value = int(pad_value)
        self._buffer = np.full((*self.input_hw, 3), self.pad_value, dtype=np.uint8)
        self._geometry: dict[tuple[int, int], Letterbox] = {}

    def letterbox_for(self, src_hw: tuple[int, int]) -> Letterbox:
        """The (cached) geometry for one source size."""
        geometry = self._geometry.get(src_hw)
        if geometry is None:
            geometry = Letterbox.fit(src_hw, self.input_hw)
            if len(self._geometry) > 8:  # a stream rarely changes size; keep the cache small
                self._geometry.clear()
            self._geometry[src_hw] = geometry
        return geometry

    def __call__(self, image: np.ndarray, color: str = "rgb") -> tuple[np.ndarray, Letterbox]:
        """Letterbox an HxWx3 uint8 ``image`` (``color`` 'rgb' or 'bgr') to RGB network input."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 HxWx3, got {image.dtype} {image.shape}")
        if color not in COLOR_ORDERS:
            raise ValueError(f"colour order must be one of {COLOR_ORDERS}, got {color!r}")
        geometry = self.letterbox_for(image.shape[:2])
        out = geometry.apply(image, self.input_hw, self.pad_value, out=self._buffer)
        if color == "bgr":
            # Swap on the small canvas, not the full-size frame; the grey pad is unaffected.
            cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)
        return out, geometry
