"""Detectors: one protocol, several backends, chosen by the model's ``kind``.

Optional libraries (``inference`` for roboflow) are imported when a detector loads, so a
missing one is a clear error naming it, not an import crash.
"""

from __future__ import annotations

from streamer.detect.base import (
    NO_CAMERA,
    Detector,
    DetectorContext,
    empty_detections,
    make_detections,
)
from streamer.detect.multi import DetectorSet
from streamer.errors import ModelError
from streamer.schema.bases import ModelBase

__all__ = ["Detector", "DetectorSet", "build_detector", "empty_detections", "make_detections"]


def build_detector(config: ModelBase, context: DetectorContext = NO_CAMERA) -> Detector:
    """Load the backend for ``config``; raises :class:`ModelError` with one clear line.

    Each model's config builds its own detector (``build``): a new backend is a new module
    registered in :mod:`streamer.plugins`, not a branch here.
    """
    try:
        detector: Detector = config.build(context)
    except ImportError as exc:
        raise ModelError(
            f"model {config.id!r}: the {config.kind} backend needs a missing library ({exc})"
        ) from None
    return detector
