"""From a frame to the model's input and from its output back to boxes in the frame.

Pure array arithmetic (no session): the letterbox the YOLO models were trained with, the
decoding of ``[4 + classes, N]`` with class-aware NMS, and the way back through the
letterbox. The int8 calibration runs the same two steps on its own sessions, and the
tests check the arithmetic on hand-built outputs.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.detect.base import note_invalid_boxes

LETTERBOX_GREY = 114
# Same caps as Ultralytics' own NMS: a noisy frame cannot blow up NMS time or the tracker.
MAX_CANDIDATES = 30_000
MAX_DETECTIONS = 300

Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]


def letterbox(
    image: np.ndarray, input_size: tuple[int, int], dtype: type[np.floating]
) -> tuple[np.ndarray, float, float, float]:
    """Letterbox into ``input_size`` (aspect kept, grey 114 borders, centred), as the
    YOLO models were trained; returns the NCHW RGB blob and how to undo it (scale, x and
    y padding in input pixels)."""
    canvas, scale, pad_x, pad_y = letterbox_canvas(image, input_size)
    return to_blob(canvas, dtype), scale, pad_x, pad_y


def letterbox_canvas(
    image: np.ndarray, input_size: tuple[int, int], scale: float | None = None
) -> tuple[np.ndarray, float, float, float]:
    """:func:`letterbox`'s picture before it becomes a blob (uint8 BGR, ``input_size``).
    ``scale``: resize by this much (the picture must then fit the input) instead of
    filling it."""
    in_h, in_w = input_size
    src_h, src_w = image.shape[:2]
    if scale is None:
        scale = min(in_h / src_h, in_w / src_w)
    new_w, new_h = min(in_w, max(1, round(src_w * scale))), min(in_h, max(1, round(src_h * scale)))
    pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    canvas = np.full((in_h, in_w, 3), LETTERBOX_GREY, dtype=np.uint8)
    if (new_w, new_h) != (src_w, src_h):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = image
    return canvas, scale, float(pad_x), float(pad_y)


def to_blob(canvas: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
    """A letterboxed BGR picture as the model's NCHW RGB blob in 0..1."""
    blob: np.ndarray = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 255.0, swapRB=True)
    if blob.dtype != dtype:
        blob = blob.astype(dtype)
    return blob


def unletterbox(
    boxes: np.ndarray, scale: float, pad_x: float, pad_y: float, width: int, height: int
) -> None:
    """Undo the letterbox on xyxy ``boxes`` in place: remove the padding, then the
    resize, then clip to the ``width`` x ``height`` frame."""
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad_x) / scale
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad_y) / scale
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)


def _nothing() -> Decoded:
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)


def decode(raw: np.ndarray, confidence: float, iou: float, model_id: str) -> Decoded:
    """``[4+nc, N]`` → (xyxy in input pixels, score, class id) above ``confidence``
    after class-aware NMS at ``iou``; invalid boxes are counted under ``model_id``."""
    raw = raw.astype(np.float32, copy=False)
    class_scores = raw[4:]
    class_ids = class_scores.argmax(axis=0)
    scores = class_scores[class_ids, np.arange(class_scores.shape[1])]
    keep = np.flatnonzero(scores >= confidence)
    if len(keep) > MAX_CANDIDATES:
        keep = keep[np.argsort(-scores[keep])[:MAX_CANDIDATES]]
    if len(keep) == 0:
        return _nothing()
    # NaN or inf boxes would reach NMS (and an inf width would be clipped into a
    # frame-wide box): dropped here one by one and counted, the others kept.
    with np.errstate(invalid="ignore"):
        sane = np.isfinite(raw[:4, keep]).all(axis=0) & (raw[2, keep] >= 0) & (raw[3, keep] >= 0)
    if not sane.all():
        note_invalid_boxes(model_id, int(len(keep) - sane.sum()))
        keep = keep[sane]
        if len(keep) == 0:
            return _nothing()
    cx, cy, w, h = raw[0, keep], raw[1, keep], raw[2, keep], raw[3, keep]
    scores, class_ids = scores[keep], class_ids[keep]
    xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    kept = cv2.dnn.NMSBoxesBatched(
        xywh,  # type: ignore[arg-type]  # an Nx4 array works; OpenCV's stubs list box sequences
        scores, class_ids.astype(np.int32), confidence, iou,
    )
    chosen = np.asarray(kept, dtype=np.int_).reshape(-1)[:MAX_DETECTIONS]
    xyxy = xywh[chosen].copy()
    xyxy[:, 2] += xyxy[:, 0]
    xyxy[:, 3] += xyxy[:, 1]
    return xyxy, scores[chosen], class_ids[chosen]
