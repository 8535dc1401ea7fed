"""The detector protocol and the one place detections are normalised.

Every backend returns ``sv.Detections`` with float32 pixel ``xyxy`` in the original
frame, ``confidence`` always set, and ``data["class_name"]`` and ``data["model_id"]``
always present (even when empty). ``Detections.merge`` (used by ByteTrack) demands
identical ``data`` keys, so no backend may add its own.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from streamer.source.frame import Frame

CLASS_NAME = "class_name"
MODEL_ID = "model_id"

log = logging.getLogger("streamer.detect")

# Boxes a model gave that no stage can use (NaN, inf, negative width or height), per
# model id. Dropped one by one here, so one bad box never costs the frame's good ones
# (supervision refuses a whole Detections holding one NaN; 25 such frames ended a run).
_invalid_boxes: Counter[str] = Counter()
_invalid_lock = threading.Lock()
_invalid_logged_at: dict[str, float] = {}
INVALID_LOG_EVERY_S = 60.0


def invalid_boxes_total(model_id: str) -> int:
    """Boxes of ``model_id`` dropped as invalid since the process started."""
    with _invalid_lock:
        return _invalid_boxes[model_id]


def valid_box_mask(xyxy: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Rows with finite coordinates and score, ``x1 <= x2`` and ``y1 <= y2``."""
    finite = np.isfinite(xyxy).all(axis=1) & np.isfinite(confidence)
    with np.errstate(invalid="ignore"):
        ordered: np.ndarray = (xyxy[:, 2] >= xyxy[:, 0]) & (xyxy[:, 3] >= xyxy[:, 1])
    valid: np.ndarray = finite & ordered
    return valid


def scores_of(dets: sv.Detections) -> np.ndarray:
    """Each detection's confidence; 1.0 where the detector gave none (a replay file)."""
    if dets.confidence is None:
        return np.ones(len(dets), np.float32)
    return dets.confidence


def pick(dets: sv.Detections, index: np.ndarray | slice) -> sv.Detections:
    """``dets[index]`` for a mask, indices or a slice: always a ``Detections`` (a copy).

    supervision's ``__getitem__`` also takes a ``data`` key and then returns that column,
    so its declared result is a union; rows asked for are always detections.
    """
    rows = dets[index]
    if not isinstance(rows, sv.Detections):
        raise TypeError(f"expected Detections for rows {index!r}, got {type(rows).__name__}")
    return rows


def note_invalid_boxes(model_id: str, count: int) -> None:
    """Count ``count`` dropped boxes of ``model_id``; say so at most once a minute."""
    if count <= 0:
        return
    now = time.monotonic()
    with _invalid_lock:
        _invalid_boxes[model_id] += count
        total = _invalid_boxes[model_id]
        due = now - _invalid_logged_at.get(model_id, -INVALID_LOG_EVERY_S) >= INVALID_LOG_EVERY_S
        if due:
            _invalid_logged_at[model_id] = now
    if due:
        log.warning("model %r gave boxes with NaN, inf or a negative size: dropped (%d so far), "
                    "the frame's other boxes kept", model_id, total)


@dataclass(frozen=True)
class DetectorContext:
    """What a detector's factory (``ModelBase.build``) may take from the camera it runs for,
    beside its own config, which stays as the file says.

    ``camera_source`` is the camera's ``source``: an int8 model calibrates on its frames
    unless its config names ``calibration``.
    """

    camera_source: int | str | None = None


# A detector built outside any camera (tests, benchmarks): no camera to calibrate on.
NO_CAMERA = DetectorContext()


class Detector(ABC):
    """A model backend. ``detect`` runs on the frame-loop thread; it must not keep ``frame``.

    ``class_names`` are its own names (before ``class_map``) when it knows them, None when
    not: ``run`` checks the rules against them before the first frame.
    """

    model_id: str
    class_names: Sequence[str] | None = None

    @abstractmethod
    def detect(self, frame: Frame) -> sv.Detections:
        """Normalised detections of ``frame`` (:func:`make_detections`)."""

    def close(self) -> None:  # noqa: B027 (a detector holding nothing has nothing to release)
        """Release the model; later ``detect`` calls may fail."""


# How a shared detector's session call is made: ``through(call, routine)`` runs ``call`` on
# the box's inference workers; ``routine`` (a keepalive run) lets other cameras go first.
Through = Callable[[Callable[[], np.ndarray], bool], np.ndarray]


class SharedDetector(Detector):
    """A detector whose loaded model several cameras of a box use at once (its config's
    ``share_key`` is not None): each camera gets a :meth:`view` with its own id, classes
    and confidence on the one session."""

    path: Path
    precision: str

    @abstractmethod
    def view(self, config: Any, through: Through) -> Detector:
        """This loaded model for another camera (``config``), each call made ``through``
        the box's inference workers (with the frame's ``routine``)."""


def make_detections(
    xyxy: np.ndarray | Sequence[Sequence[float]],
    confidence: np.ndarray | Sequence[float],
    class_names: Sequence[str],
    model_id: str,
    class_ids: np.ndarray | Sequence[int] | None = None,
) -> sv.Detections:
    """Build normalised detections; ``class_ids`` default to 0 (names carry the meaning).

    Invalid boxes (NaN, inf, negative size) are dropped one by one and counted
    (:func:`invalid_boxes_total`); the others are kept."""
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    count = len(boxes)
    ids = np.zeros(count, dtype=int) if class_ids is None else np.asarray(class_ids, dtype=int)
    scores = np.asarray(confidence, dtype=np.float32).reshape(count)
    names = np.asarray(list(class_names), dtype=object).reshape(count)
    ids = ids.reshape(count)
    valid = valid_box_mask(boxes, scores)
    if not valid.all():
        note_invalid_boxes(model_id, int(count - valid.sum()))
        boxes, scores, names, ids = boxes[valid], scores[valid], names[valid], ids[valid]
        count = len(boxes)
    return sv.Detections(
        xyxy=boxes,
        confidence=scores,
        class_id=ids,
        data={CLASS_NAME: names, MODEL_ID: np.full(count, model_id, dtype=object)},
    )


def empty_detections(model_id: str = "") -> sv.Detections:
    return make_detections(np.zeros((0, 4)), [], [], model_id)


def filter_classes(
    dets: sv.Detections,
    class_map: Mapping[str, str],
    classes: Sequence[str] | None,
    min_confidence: float,
) -> sv.Detections:
    """Rename classes by ``class_map``, then keep ``classes`` (after renaming) above the score."""
    if len(dets) == 0:
        return dets
    names = dets.data[CLASS_NAME]
    if class_map:
        names = np.array([class_map.get(str(name), str(name)) for name in names], dtype=object)
        dets.data[CLASS_NAME] = names
    keep = scores_of(dets) >= min_confidence
    if classes is not None:
        keep &= np.isin(np.asarray(names).astype(str), list(classes))
    return pick(dets, keep)
