"""The detector protocol and the one place detections are normalised.

Every backend returns ``sv.Detections`` with float32 pixel ``xyxy`` in the original
frame, ``confidence`` always set, and ``data["class_name"]`` and ``data["model_id"]``
always present (even when empty). ``Detections.merge`` (used by ByteTrack) demands
identical ``data`` keys, so no backend may add its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import supervision as sv

from streamer.source.frame import Frame

CLASS_NAME = "class_name"
MODEL_ID = "model_id"


class Detector(Protocol):
    """A model backend. ``detect`` runs on the frame-loop thread; it must not keep ``frame``.

    A backend that knows its classes also sets ``class_names`` (its own names, before
    ``class_map``): ``run`` checks the rules against them before the first frame. One
    without it (a test's stand-in) is read as unknown, with ``getattr``.
    """

    model_id: str

    def detect(self, frame: Frame) -> sv.Detections: ...

    def close(self) -> None: ...


def make_detections(
    xyxy: np.ndarray | Sequence[Sequence[float]],
    confidence: np.ndarray | Sequence[float],
    class_names: Sequence[str],
    model_id: str,
    class_ids: np.ndarray | Sequence[int] | None = None,
) -> sv.Detections:
    """Build normalised detections; ``class_ids`` default to 0 (names carry the meaning)."""
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    count = len(boxes)
    ids = np.zeros(count, dtype=int) if class_ids is None else np.asarray(class_ids, dtype=int)
    return sv.Detections(
        xyxy=boxes,
        confidence=np.asarray(confidence, dtype=np.float32).reshape(count),
        class_id=ids.reshape(count),
        data={
            CLASS_NAME: np.asarray(list(class_names), dtype=object).reshape(count),
            MODEL_ID: np.full(count, model_id, dtype=object),
        },
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
    keep = dets.confidence >= min_confidence
    if classes is not None:
        keep &= np.isin(names.astype(str), list(classes))
    return dets[keep]
