"""Speed-ups keep the detections: the ONNX backend (tuned session, vectorised decode and
NMS, float16 models widened to float32) against a plain reference written here.

The reference does everything the slow, obvious way: an unoptimised session, a
letterbox with cv2.copyMakeBorder, a Python loop over anchors and a greedy per-class
NMS. Issue 8's bar: the same boxes (IoU >= 0.9) for >= 95 % of detections on the
sample video.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper
from support import best_iou

from streamer import assets
from streamer.config.models import OnnxModelConfig
from streamer.detect.onnx import OnnxDetector
from streamer.errors import ModelError
from streamer.source.frame import Frame

pytestmark = pytest.mark.integration

CONFIDENCE = 0.25
IOU = 0.5
FRAMES = list(range(30, 250, 40))  # 6 frames across the clip, people in most


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(assets.sample_video()))
    out: dict[int, np.ndarray] = {}
    for index in range(max(FRAMES) + 1):
        ok, image = capture.read()
        assert ok, f"bikes.mp4 ended at frame {index}"
        if index in FRAMES:
            out[index] = image
    capture.release()
    return out


def reference_detect(
    session: ort.InferenceSession, image: np.ndarray
) -> list[tuple[int, float, list[float]]]:
    """(class id, score, xyxy in frame pixels) the slow way."""
    height, width = image.shape[:2]
    scale = min(640 / height, 640 / width)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = cv2.resize(image, (new_w, new_h),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    left, top = (640 - new_w) // 2, (640 - new_h) // 2
    padded = cv2.copyMakeBorder(resized, top, 640 - new_h - top, left, 640 - new_w - left,
                                cv2.BORDER_CONSTANT, value=(114, 114, 114))
    rgb = padded[:, :, ::-1].astype(np.float32) / 255.0
    blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])
    spec = session.get_inputs()[0]
    if spec.type == "tensor(float16)":
        blob = blob.astype(np.float16)
    raw = session.run(None, {spec.name: blob})[0][0].astype(np.float32)
    candidates = []
    for anchor in range(raw.shape[1]):
        scores = raw[4:, anchor]
        cls = int(np.argmax(scores))
        if scores[cls] < CONFIDENCE:
            continue
        cx, cy, w, h = raw[:4, anchor]
        box = [(cx - w / 2 - left) / scale, (cy - h / 2 - top) / scale,
               (cx + w / 2 - left) / scale, (cy + h / 2 - top) / scale]
        box = [min(max(box[0], 0), width), min(max(box[1], 0), height),
               min(max(box[2], 0), width), min(max(box[3], 0), height)]
        candidates.append((cls, float(scores[cls]), box))
    candidates.sort(key=lambda c: -c[1])
    kept: list[tuple[int, float, list[float]]] = []
    for cls, score, box in candidates:
        if all(k[0] != cls or _iou(k[2], box) <= IOU for k in kept):
            kept.append((cls, score, box))
    return kept


def _iou(a: list[float], b: list[float]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def plain_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])


def agreement(detector: OnnxDetector, reference: ort.InferenceSession,
              frames: dict[int, np.ndarray]) -> tuple[int, int, int, int]:
    """(reference boxes matched by ours, reference total, ours matched, ours total)."""
    ref_hit = ref_total = our_hit = our_total = 0
    for index, image in frames.items():
        ours = detector.detect(Frame(image, index, index / 25, 0.0))
        theirs = reference_detect(reference, image)
        for cls, _, box in theirs:
            ref_total += 1
            ref_hit += best_iou(ours.xyxy[ours.class_id == cls], box) >= 0.9
        for cls, xyxy in zip(ours.class_id, ours.xyxy):
            our_total += 1
            same = np.array([b for c, _, b in theirs if c == cls]).reshape(-1, 4)
            our_hit += best_iou(same, xyxy.tolist()) >= 0.9
    return ref_hit, ref_total, our_hit, our_total


def _detector(path: Path, **extra: object) -> OnnxDetector:
    """The reference letterboxes into the model's own square input: so does this detector
    (``fit_input`` runs another input shape; tests/detect/test_onnx_body.py compares it)."""
    return OnnxDetector(OnnxModelConfig(id="people", kind="onnx", path=path,
                                        confidence=CONFIDENCE, iou=IOU, fit_input=False,
                                        **extra))


def test_tuned_backend_keeps_the_reference_boxes(frames: dict[int, np.ndarray]) -> None:
    detector = _detector(assets.person_model(), threads=2)
    try:
        ref_hit, ref_total, our_hit, our_total = agreement(
            detector, plain_session(assets.person_model()), frames)
    finally:
        detector.close()
    assert ref_total >= 6, "too few detections to judge"
    assert ref_hit / ref_total >= 0.95, f"{ref_hit} of {ref_total} reference boxes kept"
    assert our_hit / our_total >= 0.95, f"{our_hit} of {our_total} of ours in the reference"


def make_fp16(src: Path, dst: Path) -> Path:
    """A float16 export of the float32 model (Resize's scales stay float32, as ONNX wants)."""
    model = onnx.load(str(src))
    keep = {name for node in model.graph.node if node.op_type == "Resize"
            for name in node.input[1:]}
    for tensor in model.graph.initializer:
        if tensor.data_type == TensorProto.FLOAT and tensor.name not in keep:
            tensor.CopyFrom(numpy_helper.from_array(
                numpy_helper.to_array(tensor).astype(np.float16), tensor.name))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
    del model.graph.value_info[:]
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] in keep:
            continue
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
            if attribute.HasField("t") and attribute.t.data_type == TensorProto.FLOAT:
                attribute.t.CopyFrom(numpy_helper.from_array(
                    numpy_helper.to_array(attribute.t).astype(np.float16), attribute.t.name))
    onnx.save(model, str(dst))
    return dst


def test_float16_model_is_widened_once_cached_and_keeps_the_boxes(
    tmp_path: Path, frames: dict[int, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMER_CACHE", str(tmp_path / "cache"))
    fp16 = make_fp16(assets.person_model(), tmp_path / "person_fp16.onnx")
    detector = _detector(fp16)
    copies = list((tmp_path / "cache" / "fp32").glob("*.onnx"))
    assert len(copies) == 1
    made_at = copies[0].stat().st_mtime_ns
    choice = copies[0].with_suffix(".choice.json")
    assert choice.is_file(), "the faster of float16/float32 is decided once and kept"
    try:
        subset = {index: frames[index] for index in FRAMES[:3]}
        ref_hit, ref_total, _, _ = agreement(detector, plain_session(assets.person_model()),
                                             subset)
    finally:
        detector.close()
    assert ref_total >= 3
    assert ref_hit / ref_total >= 0.95, f"{ref_hit} of {ref_total}"
    _detector(fp16).close()
    assert copies[0].stat().st_mtime_ns == made_at, "converted again instead of cached"


def test_a_provider_missing_from_this_onnxruntime_is_one_clear_error() -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        wanted = "TensorrtExecutionProvider"  # a GPU build: ask for what it lacks instead
    else:
        wanted = "CUDAExecutionProvider"
    if wanted in ort.get_available_providers():
        wanted = "CoreMLExecutionProvider"
    with pytest.raises(ModelError) as caught:
        _detector(assets.person_model(), providers=[wanted])
    message = str(caught.value)
    assert "\n" not in message
    assert wanted in message and "onnxruntime-gpu" in message and "'people'" in message


def boxes_kept(detector: OnnxDetector, frames: dict[int, np.ndarray]) -> bool:
    """Every box a plain onnxruntime session finds on two frames, this detector finds too."""
    hit, total, _, _ = agreement(
        detector, plain_session(assets.person_model()), {index: frames[index] for index in FRAMES[:2]})
    return hit == total


def test_graph_optimisation_level_is_configurable_and_keeps_the_boxes(
    frames: dict[int, np.ndarray],
) -> None:
    detector = _detector(assets.person_model(), graph_optimization="disable")
    try:
        assert boxes_kept(detector, frames)
    finally:
        detector.close()


def test_inter_op_threads_run_the_parallel_executor_and_keep_the_boxes(
    frames: dict[int, np.ndarray],
) -> None:
    detector = _detector(assets.person_model(), inter_op_threads=2)
    try:
        assert detector._session is not None
        options = detector._session.get_session_options()
        assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
        assert options.inter_op_num_threads == 2
        assert boxes_kept(detector, frames)
    finally:
        detector.close()
