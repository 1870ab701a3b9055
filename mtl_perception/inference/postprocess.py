"""Host-side post-processing: confidence filter, class-wise NMS, un-letterboxing.

Boxes leave here in the original image's pixels, clipped to it; masks leave at the original
size (nearest neighbour, so class ids stay class ids). Peers that publish network-input
pixels are the most common complaint their users have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtl_perception.inference.letterbox import Letterbox

# Candidates kept (by score) before NMS: bounds the O(n^2) worst case on a noisy model.
MAX_NMS_CANDIDATES = 3000


@dataclass(frozen=True)
class Thresholds:
    """Validated post-processing settings; replaced as a whole so readers never see a mix."""

    confidence: float = 0.25
    iou: float = 0.45
    max_detections: int = 100
    classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        problem = threshold_problem(self.confidence, self.iou, self.max_detections)
        if problem:
            raise ValueError(problem)


def threshold_problem(confidence: float, iou: float, max_detections: int) -> str | None:
    """Why these settings are unusable, or None (shared by the node's parameter checks)."""
    if not 0.0 <= confidence <= 1.0:
        return f"confidence threshold {confidence} is outside [0, 1]"
    if not 0.0 < iou <= 1.0:
        return f"NMS IoU threshold {iou} is outside (0, 1]"
    if not 1 <= max_detections <= 10000:
        return f"max detections {max_detections} is outside [1, 10000]"
    return None


def resolve_classes(
    wanted: Sequence[int | str] | None, class_names: Sequence[str]
) -> tuple[int, ...] | None:
    """Class filter by id or name -> sorted ids; None or empty means every class."""
    if not wanted:
        return None
    ids: set[int] = set()
    for item in wanted:
        if isinstance(item, (int, np.integer)) or (isinstance(item, str) and item.isdigit()):
            index = int(item)
            if not 0 <= index < len(class_names):
                raise ValueError(f"class id {index} is outside 0..{len(class_names) - 1}")
        elif item in class_names:
            index = list(class_names).index(item)
        else:
            raise ValueError(f"unknown class {item!r}; the model has {list(class_names)}")
        ids.add(index)
    return tuple(sorted(ids))


def best_class(
    scores: np.ndarray, classes: tuple[int, ...] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor: the highest-scoring allowed class id and its score."""
    if classes is not None:
        allowed = np.asarray(classes, dtype=np.int64)
        sub = scores[:, allowed]
        pick = sub.argmax(axis=1)
        return allowed[pick], sub[np.arange(len(sub)), pick]
    pick = scores.argmax(axis=1)
    return pick.astype(np.int64), scores[np.arange(len(scores)), pick]


def best_score(scores: np.ndarray, classes: tuple[int, ...] | None) -> np.ndarray:
    """Per anchor: the highest allowed class score, one column at a time.

    numpy reduces a short last axis row by row, which is slow for 15k anchors x 4-10 classes;
    an elementwise maximum over the columns is ~4x faster and lets the confidence filter run
    before the (then small) argmax.
    """
    columns = range(scores.shape[1]) if classes is None else classes
    it = iter(columns)
    best = scores[:, next(it)].copy()
    for c in it:
        np.maximum(best, scores[:, c], out=best)
    return best


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray, areas: np.ndarray | None = None,
                    area: float | None = None) -> np.ndarray:
    """IoU of one xyxy box against many (areas may be passed in when already known)."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.maximum(ix2 - ix1, 0.0) * np.maximum(iy2 - iy1, 0.0)
    if area is None:
        area = (box[2] - box[0]) * (box[3] - box[1])
    if areas is None:
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = np.maximum(area + areas - inter, 1e-12)
    return inter / union


def nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float, max_det: int
) -> np.ndarray:
    """Greedy class-wise NMS; returns kept indices, best score first, at most ``max_det``.

    Boxes of different classes never suppress each other: each class is offset into its own
    coordinate region (the batched-NMS trick), so one pass handles all classes.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    span = float(np.abs(boxes).max()) + 1.0
    shifted = boxes.astype(np.float64) + (class_ids.astype(np.float64) * 2 * span)[:, None]
    shifted = shifted[order]  # work in score order: contiguous slices, no gathers
    areas = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    alive = np.arange(len(order))
    keep: list[int] = []
    while alive.size and len(keep) < max_det:
        first = alive[0]
        keep.append(int(order[first]))
        rest = alive[1:]
        if rest.size == 0:
            break
        overlap = iou_one_to_many(shifted[first], shifted[rest], areas[rest], areas[first])
        alive = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


@dataclass
class Detections:
    """Final detections in original-image pixels (xyxy)."""

    boxes: np.ndarray  # float32 [N, 4]
    scores: np.ndarray  # float32 [N]
    class_ids: np.ndarray  # int64 [N]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), []
        )


def postprocess_detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    geometry: Letterbox,
    thresholds: Thresholds,
    class_names: Sequence[str],
) -> Detections:
    """Raw model outputs (network-input space) -> filtered, NMS'd detections in source pixels."""
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.ndim != 2 or len(scores) != len(boxes):
        raise ValueError(f"unexpected outputs: boxes {boxes.shape}, scores {scores.shape}")
    if len(boxes) == 0 or scores.shape[1] == 0:
        return Detections.empty()
    keep_rows = np.flatnonzero(best_score(scores, thresholds.classes) >= thresholds.confidence)
    if keep_rows.size == 0:
        return Detections.empty()
    cand_ids, cand_scores = best_class(scores[keep_rows], thresholds.classes)
    cand_boxes = boxes[keep_rows]
    if len(cand_scores) > MAX_NMS_CANDIDATES:
        top = np.argpartition(-cand_scores, MAX_NMS_CANDIDATES)[:MAX_NMS_CANDIDATES]
        cand_boxes, cand_scores, cand_ids = cand_boxes[top], cand_scores[top], cand_ids[top]
    # NMS in source pixels: clipping first means boxes that leave the image compare fairly.
    source_boxes = geometry.boxes_to_source(cand_boxes.astype(np.float32))
    keep = nms(source_boxes, cand_scores, cand_ids, thresholds.iou, thresholds.max_detections)
    ids = cand_ids[keep]
    return Detections(
        boxes=source_boxes[keep],
        scores=cand_scores[keep].astype(np.float32),
        class_ids=ids,
        class_names=[class_names[i] if i < len(class_names) else str(i) for i in ids],
    )


def _check_mask(mask: np.ndarray) -> None:
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"expected a uint8 HxW class-id mask, got {mask.dtype} {mask.shape}")


# Two class-id masks share one resize when both fit in a nibble (drivable 2-3 classes, lane 2).
_NIBBLE = 16


def masks_to_source(
    first: np.ndarray,
    second: np.ndarray,
    geometry: Letterbox,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Both masks back to the original size with one nearest-neighbour resize.

    The full-size resize is most of the host-side post-processing at 720p, so the two masks
    travel as the low and high nibble of one image and are split afterwards (into ``out``,
    e.g. the outgoing messages' buffers, when given). Results equal two separate resizes.
    """
    _check_mask(first)
    _check_mask(second)
    a, b = out if out is not None else (None, None)
    if geometry.fast_mask_upscale or first.shape != second.shape or \
            max(int(first.max()), int(second.max())) >= _NIBBLE:
        # At a whole-number factor mask_to_source's widening copy beats one shared resize.
        return geometry.mask_to_source(first, a), geometry.mask_to_source(second, b)
    packed = np.left_shift(second, 4)
    np.bitwise_or(packed, first, out=packed)
    big = geometry.mask_to_source(packed)
    if a is None or b is None:
        a, b = np.empty_like(big), np.empty_like(big)
    if a.shape != big.shape or b.shape != big.shape:
        raise ValueError(f"mask buffers {a.shape}, {b.shape} do not match the source {big.shape}")
    np.bitwise_and(big, _NIBBLE - 1, out=a)
    np.right_shift(big, 4, out=b)
    return a, b
