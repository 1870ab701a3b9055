"""Letterbox geometry: the one resize-and-pad used by training, export checks and the node.

Keeping a single implementation is what guarantees that boxes and masks map back to the
original image exactly as they were mapped in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mtl_perception.common.constants import PAD_VALUE

# Whole-number nearest-neighbour up-scaling by widening: a uint8 times 0x0101 is that byte
# twice, so one multiply plus one row-broadcast copy writes the k x k blocks. About 5x faster
# than cv2.resize for 360x640 -> 720x1280 (the node's 720p camera with a 384x640 model).
_WIDENED: dict[int, tuple[type[np.unsignedinteger], int]] = {
    2: (np.uint16, 0x0101), 4: (np.uint32, 0x01010101)}


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
        pad_value: int = PAD_VALUE,
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

    @property
    def integer_factor(self) -> int | None:
        """k when the source is exactly k times the un-padded region in both axes, else None."""
        k = self.source_width // self.resized_width
        if k * self.resized_width == self.source_width and \
                k * self.resized_height == self.source_height:
            return k
        return None

    @property
    def fast_mask_upscale(self) -> bool:
        """True when :meth:`mask_to_source` takes the widening path (factor 1, 2 or 4)."""
        k = self.integer_factor
        return k == 1 or k in _WIDENED

    def mask_to_source(self, mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Crop the padding off a network-size class-id mask and resize it (nearest) back.

        Writes into ``out`` (source-sized, same dtype) when given.
        """
        y0, x0 = self.offset_y, self.offset_x
        crop = mask[y0 : y0 + self.resized_height, x0 : x0 + self.resized_width]
        shape = (self.source_height, self.source_width)
        if out is not None and (out.shape != shape or out.dtype != mask.dtype):
            raise ValueError(f"mask buffer {out.shape} {out.dtype} does not match the source "
                             f"{shape} {mask.dtype}")
        if mask.dtype == np.uint8 and self.fast_mask_upscale:
            if out is None:
                out = np.empty(shape, np.uint8)
            if out.flags.c_contiguous:
                upscale_uint8(crop, self.source_width // self.resized_width, out)
                return out
        size = (self.source_width, self.source_height)
        if out is not None:
            cv2.resize(crop, size, dst=out, interpolation=cv2.INTER_NEAREST)
            return out
        return cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST)


def upscale_uint8(src: np.ndarray, k: int, out: np.ndarray) -> None:
    """Nearest up-scaling of a uint8 HxW image by k in 1, 2 or 4, into C-contiguous ``out``.

    Identical to ``cv2.resize(..., INTER_NEAREST)`` at these exact factors (pixel x of the
    output reads src[x // k]); the tests compare the two.
    """
    h, w = src.shape
    if out.shape != (h * k, w * k) or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"output {out.shape} {out.dtype} is not a contiguous uint8 "
                         f"{(h * k, w * k)} array")
    if k == 1:
        np.copyto(out, src)
        return
    if k not in _WIDENED:
        raise ValueError(f"factor {k} is not one of 1, 2, 4")
    wide_type, ones = _WIDENED[k]
    wide = np.multiply(src, ones, dtype=wide_type)  # each pixel repeated k times in its bytes
    np.copyto(out.view(wide_type).reshape(h, k, w), wide[:, None, :])
