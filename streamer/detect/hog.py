"""OpenCV's HOG + linear SVM people detector: no download, no extra package.

Weaker and slower per pixel than a YOLO model (it only sees upright people at least
about 128 px tall in the scaled frame), but it runs anywhere opencv-python does, which
makes it the zero-setup choice for trying rules out.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import supervision as sv
from pydantic import Field

from streamer.detect.base import (
    NO_CAMERA,
    Detector,
    DetectorContext,
    filter_classes,
    make_detections,
)
from streamer.errors import ModelError
from streamer.schema.bases import ModelBase, ModelFacts
from streamer.source.frame import Frame

# --- config ---------------------------------------------------------------------------


class HogModelConfig(ModelBase):
    kind: Literal["hog"]
    confidence: float = Field(
        0.3, ge=0, description="Minimum SVM score of OpenCV's HOG people detector."
    )
    scale: float = Field(1.05, gt=1, description="Image pyramid step.")
    max_width: int = Field(
        640, ge=64, description="Frames wider than this are scaled down before detection."
    )

    def build(self, context: DetectorContext = NO_CAMERA) -> HogDetector:
        return HogDetector(self)

    def output_classes(self) -> set[str] | None:
        """OpenCV's people detector outputs one class."""
        if self.classes is not None:
            return set(self.classes)
        return {self.class_map.get("person", "person")}

    def inspect(self) -> ModelFacts:
        return ModelFacts((PERSON,))


# --- plugin -----------------------------------------------------------------------------


PERSON = "person"
WIN_STRIDE = (8, 8)
PADDING = (8, 8)


class HogDetector(Detector):
    """People detector; ``detect`` is called from the frame-loop thread.

    Every detection has class name ``person`` (before ``class_map``) and a confidence equal
    to the SVM score, which is not a probability: it is often above 1.
    """

    def __init__(self, config: HogModelConfig) -> None:
        """Raises ModelError when this OpenCV build lacks the people detector (5.x wheels)."""
        self.config = config
        self.model_id: str = config.id
        self.class_names: list[str] = [PERSON]
        people_svm = getattr(cv2, "HOGDescriptor_getDefaultPeopleDetector", None)
        if people_svm is None or not hasattr(cv2, "HOGDescriptor"):
            raise ModelError(
                f"model {config.id!r}: this OpenCV build ({cv2.__version__}) has no HOG "
                "people detector; install opencv-python<5"
            )
        self._hog: cv2.HOGDescriptor | None = cv2.HOGDescriptor()
        self._hog.setSVMDetector(people_svm())

    def detect(self, frame: Frame) -> sv.Detections:
        """People in ``frame``'s pixels, renamed by ``class_map`` and filtered."""
        if self._hog is None:
            raise ModelError(f"model {self.model_id!r}: detector is closed")
        image = frame.image
        factor = 1.0
        if frame.width > self.config.max_width:
            # HOG cost grows with pixel count; a 1080p frame would take seconds.
            factor = self.config.max_width / frame.width
            size = (self.config.max_width, max(1, round(frame.height * factor)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        rects, weights = self._hog.detectMultiScale(
            image, winStride=WIN_STRIDE, padding=PADDING, scale=self.config.scale
        )
        boxes = np.asarray(rects, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(weights, dtype=np.float32).reshape(-1)
        keep = scores > self.config.confidence
        boxes, scores = boxes[keep], scores[keep]
        xyxy = np.empty_like(boxes)
        xyxy[:, :2] = boxes[:, :2] / factor
        xyxy[:, 2:] = (boxes[:, :2] + boxes[:, 2:]) / factor
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, frame.width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, frame.height)
        dets = make_detections(xyxy, scores, [PERSON] * len(xyxy), self.model_id)
        return filter_classes(
            dets, self.config.class_map, self.config.classes, self.config.confidence
        )

    def close(self) -> None:
        """Drop the descriptor; later ``detect`` calls raise ``ModelError``."""
        self._hog = None


__all__ = ["HogDetector"]
