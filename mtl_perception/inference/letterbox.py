"""Letterbox geometry: the one resize-and-pad used by training, export checks and the node.

Keeping a single implementation is what guarantees that boxes and masks map back to the
original image exactly as they were mapped in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Maps original-image pixels to network-input pixels: ``net = orig * scale + offset``."""

    scale: float
    offset_x: int
    offset_y: int
    resized_width: int
    resized_height: int
    source_width: int
    source_height: int

    @classmethod
    def fit(cls, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> Letterbox:
        src_h, src_w = src_hw
        dst_h, dst_w = dst_hw
        if src_h <= 0 or src_w <= 0:
            raise ValueError(f"cannot letterbox an empty image ({src_w}x{src_h})")
        scale = min(dst_h / src_h, dst_w / src_w)
        new_w = max(1, min(dst_w, round(src_w * scale)))
        new_h = max(1, min(dst_h, round(src_h * scale)))
        return cls(
            scale=scale,
            offset_x=(dst_w - new_w) // 2,
            offset_y=(dst_h - new_h) // 2,
            resized_width=new_w,
            resized_height=new_h,
            source_width=src_w,
            source_height=src_h,
        )

    def apply(
        self,
        image: np.ndarray,
        dst_hw: tuple[int, int],
        pad_value: int = 114,
        out: np.ndarray | None = None,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> np.ndarray:
        """Resize ``image`` into a padded canvas; writes into ``out`` when given (no allocation)."""
        dst_h, dst_w = dst_hw
        shape = (dst_h, dst_w, *image.shape[2:])
        if out is None or out.shape != shape or out.dtype != image.dtype:
            out = np.empty(shape, dtype=image.dtype)
        y0, x0 = self.offset_y, self.offset_x
        y1, x1 = y0 + self.resized_height, x0 + self.resized_width
        out[:y0] = pad_value
        out[y1:] = pad_value
        out[y0:y1, :x0] = pad_value
        out[y0:y1, x1:] = pad_value
        cv2.resize(
            image,
            (self.resized_width, self.resized_height),
            dst=out[y0:y1, x0:x1],
            interpolation=interpolation,
        )
        return out

    def boxes_to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Network-input xyxy boxes -> original-image pixels, clipped to the image."""
        result = np.empty_like(boxes, dtype=np.float32)
        result[..., 0::2] = (boxes[..., 0::2] - self.offset_x) / self.scale
        result[..., 1::2] = (boxes[..., 1::2] - self.offset_y) / self.scale
        # Basic slices are views, so clip really writes back (a fancy index would be a copy).
        np.clip(result[..., 0::2], 0, self.source_width, out=result[..., 0::2])
        np.clip(result[..., 1::2], 0, self.source_height, out=result[..., 1::2])
        return result

    def boxes_to_network(self, boxes: np.ndarray) -> np.ndarray:
        """Original-image xyxy boxes -> network-input pixels (for training targets)."""
        result = np.empty_like(boxes, dtype=np.float32)
        result[..., [0, 2]] = boxes[..., [0, 2]] * self.scale + self.offset_x
        result[..., [1, 3]] = boxes[..., [1, 3]] * self.scale + self.offset_y
        return result

    def mask_to_source(self, mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Crop the padding off a network-size class-id mask and resize it (nearest) back."""
        y0, x0 = self.offset_y, self.offset_x
        crop = mask[y0 : y0 + self.resized_height, x0 : x0 + self.resized_width]
        size = (self.source_width, self.source_height)
        if out is not None:
            cv2.resize(crop, size, dst=out, interpolation=cv2.INTER_NEAREST)
            return out
        return cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST)
