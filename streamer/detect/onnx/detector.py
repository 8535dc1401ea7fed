"""YOLOv8/YOLO11-style ONNX detector on onnxruntime (CPU), with no torch and no ultralytics.

The model must take one image ``[1, 3, H, W]`` and return ``[1, 4 + classes, N]``: per
anchor ``cx, cy, w, h`` in input pixels, then one score per class (no objectness column,
no NMS inside the graph). Every problem with the file is found at load, as a ``ModelError``
naming the model, so a bad file stops ``run`` before the first frame, not during it.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
import supervision as sv
from pydantic import Field

from streamer.detect.base import (
    NO_CAMERA,
    DetectorContext,
    SharedDetector,
    Through,
    filter_classes,
    make_detections,
)
from streamer.detect.int8 import Int8Plan, Int8Request, load_or_build
from streamer.detect.onnx.body import ALIGN, HeadSpec, cut_body, decode_head, fit_input
from streamer.detect.onnx.cache import open_model
from streamer.detect.onnx.decode import (
    Decoded,
    decode,
    letterbox,
    letterbox_canvas,
    to_blob,
    unletterbox,
)
from streamer.detect.onnx.model import check_input, check_output, inspect_file, resolve_names
from streamer.detect.onnx.session import GraphOptimization, SessionSpec, fail
from streamer.detect.providers import TENSORRT
from streamer.detect.shared import PER_CAMERA_FIELDS
from streamer.errors import ModelError
from streamer.schema.bases import ModelBase, ModelFacts
from streamer.source.frame import Frame

# --- config ---------------------------------------------------------------------------


OnnxProvider = Literal[
    "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider",
]


CalibrationMethod = Literal["minmax", "entropy", "percentile"]


def _minmax_only() -> list[CalibrationMethod]:
    return ["minmax"]


class OnnxModelConfig(ModelBase):
    kind: Literal["onnx"]
    path: Path = Field(description="YOLOv8/YOLO11-style ONNX file, output [1, 4+classes, N].")
    names: list[str] | None = Field(
        None, description="Class names by index; default: the model's metadata."
    )
    names_file: Path | None = Field(None, description="Text file with one class name per line.")
    iou: float = Field(0.5, gt=0, le=1, description="IoU above which NMS merges boxes.")
    input_size: int | None = Field(
        None, gt=0, description="Square input size when the model's input is dynamic."
    )
    threads: int | None = Field(
        None, ge=1, description="onnxruntime intra-op threads; default: all cores."
    )
    providers: list[OnnxProvider] | None = Field(
        None, min_length=1,
        description="onnxruntime execution providers, in order of preference (TensorRT/CUDA "
        "need onnxruntime-gpu; CPU is always added last as a fallback). Default: the best "
        "this onnxruntime build offers, TensorRT, then CUDA, then CPU (one log line says which).",
    )
    graph_optimization: GraphOptimization = Field(
        "all", description="onnxruntime graph optimisation level (an int8 model needs "
        "extended or all: basic leaves its quantize/dequantize pairs unfused, ~2x slower)."
    )
    spin_wait: bool = Field(
        True, description="onnxruntime's threads spin while they wait for work: fastest for "
        "one call at a time on cores nothing else wants. A box of several cameras turns it "
        "off, so that two calls at once share the cores instead of spinning against each other."
    )
    inter_op_threads: int = Field(
        1, ge=1, description="onnxruntime inter-op threads; above 1, independent branches "
        "of the graph run side by side (parallel executor). 1 (sequential) measured fastest "
        "for a YOLOv8s on 2 cores (parallel: 2x slower)."
    )
    fit_input: bool = Field(
        True, description="A YOLOv8/YOLO11 model exported with a fixed square input runs at "
        "the size the picture needs instead (a 4:3 frame at 640x480, the watched region of "
        "`detect.region`), at the same scale: fewer pixels, the same detections. Models "
        "without that head, int8 copies and TensorRT run as exported."
    )
    fp32_cache: bool = Field(
        True, description="A float16 model on a CPU-only session runs converted to float32 "
        "(converted once, cached under the streamer cache): CPU kernels are float32."
    )

    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="int8: a copy quantized (static QDQ, head kept float) and "
        "calibrated on this camera's frames, made once and cached; kept only when its "
        "detections match fp32's (int8_min_recall, int8_max_count_error)."
    )
    calibration: Path | None = Field(
        None, description="int8: a video or a folder of images to calibrate on; default: "
        "the camera's source (a file: frames spread over it; live: its first frames)."
    )
    calibration_frames: int = Field(
        160, ge=8, le=2000, description="int8: frames read for calibration (a quarter "
        "calibrates, half chooses int8's threshold, the other half judges parity)."
    )
    calibration_methods: list[CalibrationMethod] = Field(
        default_factory=_minmax_only, min_length=1,
        description="int8: calibration methods tried, the best parity kept (minmax measured "
        "best; entropy and percentile build histograms of every activation, fed 8 frames at "
        "a time: minutes each on a small CPU)."
    )
    int8_min_recall: float = Field(
        0.97, ge=0, le=1, description="int8: least share of fp32's boxes it must find "
        "(IoU >= 0.5) on held-out frames, else fp32 runs."
    )
    int8_max_count_error: float = Field(
        0.05, ge=0, le=1, description="int8: largest relative difference from fp32's box "
        "count on held-out frames, else fp32 runs."
    )
    trt_fp16: bool = Field(
        True, description="TensorRT: build fp16 engines (Jetson and recent NVIDIA cards)."
    )
    trt_cache_dir: Path | None = Field(
        None, description="TensorRT: where built engines are kept, in one folder per model "
        "content, precision and TensorRT version; default: the streamer cache's trt/ folder "
        "(/data/cache/trt in the image: the data volume)."
    )
    def build(self, context: DetectorContext = NO_CAMERA) -> OnnxDetector:
        return OnnxDetector(self, context)

    def share_key(self, context: DetectorContext) -> str | None:
        """The file and every option that shapes the loaded session; the camera's own
        fields (:data:`~streamer.detect.shared.PER_CAMERA_FIELDS`) stay out of it."""
        options = self.model_dump(mode="json", exclude=set(PER_CAMERA_FIELDS))
        if self.precision == "int8":
            # int8 chooses its own threshold from the configured confidence.
            options["confidence"] = self.confidence
            if self.calibration is None:
                # Calibrated on each camera's own frames: one int8 copy per camera source.
                options["camera_source"] = str(context.camera_source or "")
        return repr(sorted(options.items()))

    def output_classes(self) -> set[str] | None:
        """Known from ``names`` (through ``class_map``); the file's metadata needs I/O."""
        if self.classes is not None or self.names is None:
            return super().output_classes()
        return {self.class_map.get(name, name) for name in self.names}

    def inspect(self) -> ModelFacts:
        """Class names from ``names``, ``names_file`` or the file's own metadata (what
        Ultralytics exports write), read without starting a session (~50 ms for a YOLOv8s)."""
        return inspect_file(Path(self.path), self.names, self.names_file)

    def session_spec(self) -> SessionSpec:
        """How each onnxruntime session of this model is opened."""
        return SessionSpec(
            graph_optimization=self.graph_optimization,
            inter_op_threads=self.inter_op_threads,
            threads=self.threads,
            spin_wait=self.spin_wait,
            trt_fp16=self.trt_fp16,
            int8=self.precision == "int8",
            trt_cache_dir=self.trt_cache_dir,
        )


# --- plugin -----------------------------------------------------------------------------


log = logging.getLogger("streamer.detect.onnx")


class OnnxDetector(SharedDetector):
    """Runs one ONNX model on each frame; ``detect`` is called from the frame-loop thread.

    Attributes:
        model_id: the config's ``id``, copied onto every detection.
        input_size: model input as ``(height, width)`` in pixels.
        class_names: name of each output class index, before ``class_map``.
        last_inference_s: seconds spent in ``session.run`` on the latest call (benchmarks).
    """

    def __init__(self, config: OnnxModelConfig, context: DetectorContext = NO_CAMERA) -> None:
        """Load and check the model; ``context`` names the camera an int8 copy calibrates on.

        Raises:
            ModelError: the file is missing, not an ONNX model, has unexpected input or
                output shapes, or its class names do not match its outputs.
        """
        self.config = config
        self.model_id: str = config.id
        self._camera_source = context.camera_source
        self.path = Path(config.path)
        self.last_inference_s: float = 0.0
        self.spec = config.session_spec()
        opened = open_model(self.model_id, self.path, self.spec, config.providers,
                            config.fp32_cache)
        self._session: ort.InferenceSession | None = opened.session
        self._float_path, self._providers = opened.float_path, opened.providers
        self._loaded_path = opened.float_path  # the file the session runs (int8: its copy)
        if config.providers is None:
            log.info("model %r: providers chosen automatically (TensorRT, then CUDA, then CPU, "
                     "as this onnxruntime %s build offers): running on %s", self.model_id,
                     ort.__version__, ", ".join(opened.session.get_providers()))
        self._input_name, self.input_size, self._input_dtype = check_input(
            self.model_id, opened.session, config.input_size)
        self._output_name, num_classes = check_output(
            self.model_id, opened.session, self._input_name, self.input_size, self._input_dtype)
        self.class_names: list[str] = resolve_names(
            self.model_id, opened.session, config.names, config.names_file, num_classes)
        self._num_classes = num_classes
        self.confidence: float = config.confidence
        self.precision: str = "fp32"
        # How a session call is made: here, or through a box's shared inference workers.
        self._through: Through = _call
        # Set where the model runs cut before its decoding (fit_input): the head to decode.
        self._head: HeadSpec | None = None
        if config.precision == "int8":
            self._use_int8()
        if config.fit_input and TENSORRT not in self._providers:
            self._fit_input()

    def view(
        self, config: OnnxModelConfig, through: Through
    ) -> OnnxDetector:
        """This loaded model for another camera of the box: the camera's own id, classes,
        class map and confidence on the same session, each call made ``through`` the box's
        inference workers. Closing a view leaves the shared session to its owner."""
        shared = copy.copy(self)
        shared.config = config
        shared.model_id = config.id
        if self.precision == "fp32":  # int8 keeps the threshold its calibration chose
            shared.confidence = config.confidence
        shared._through = through
        return shared

    # --- int8 ---------------------------------------------------------------------------

    def int8_request(self) -> Int8Request:
        """What the int8 copy of this model is made from (the loaded float32 file)."""
        source = self.config.calibration or self._camera_source
        if source is None:
            raise self._fail("precision: int8 needs `calibration: PATH` or a camera source")
        return Int8Request(
            model_id=self.model_id, model_path=self._float_path, calibration=source,
            frames=self.config.calibration_frames,
            methods=tuple(dict.fromkeys(self.config.calibration_methods)),
            confidence=self.config.confidence, iou=self.config.iou,
            input_size=self.input_size, threads=self.config.threads,
            judged_names=tuple(self.judged_names()),
        )

    def judged_names(self) -> list[str]:
        """Each class index's name as the rules see it: int8's parity is judged on these."""
        return [self.config.class_map.get(name, name) for name in self.class_names]

    def int8_plan(self, rebuild: bool = False) -> Int8Plan:
        """The cached int8 copy, calibrated first when missing (progress lines in the log)."""
        request = self.int8_request()
        return load_or_build(
            request, self._decode, lambda image: self._preprocess(image)[0],
            request.judged_names, log.info, rebuild=rebuild,
        )

    def _use_int8(self) -> None:
        """Swap in the int8 session when its parity holds; otherwise say why and stay fp32."""
        if self._input_dtype != np.float32:
            raise self._fail("precision: int8 needs a float32 model (or fp32_cache: true)")
        plan = self.int8_plan()
        reason = plan.verdict(self.config.int8_min_recall, self.config.int8_max_count_error)
        if reason is not None:
            log.warning("model %r: int8 kept off, running fp32: %s", self.model_id, reason)
            return
        self._session = self.spec.open(plan.path, self._providers)
        self._loaded_path = plan.path
        self.confidence = plan.confidence
        self.precision = "int8"
        log.info("model %r: running int8 %s (%s, threshold %.3f; %.2fx fp32's speed)%s",
                 self.model_id, plan.path.name, plan.report["method"], self.confidence,
                 plan.report["fp32_ms"] / max(plan.report["int8_ms"], 1e-9),
                 "" if plan.calibrated_now else " from the cache")

    def _fit_input(self) -> None:
        """Swap in the model cut before its decoding (free input size) when it gives the
        same output as the whole model on a test picture; otherwise run as exported."""
        if self._input_dtype != np.float32:
            return
        body = cut_body(self._loaded_path)
        if body is None:
            return
        try:
            session = self.spec.open(body.path, self._providers)
        except Exception as exc:  # onnxruntime's pybind errors share no useful base
            log.info("model %r: runs at its own size (its cut graph does not load: %s)",
                     self.model_id, exc)
            return
        height, width = self.input_size
        ramp = np.linspace(0.0, 1.0, 3 * height * width, dtype=np.float32)
        probe = ramp.reshape(1, 3, height, width)
        assert self._session is not None
        whole = self._session.run([self._output_name], {self._input_name: probe})[0][0]
        cut = session.run(None, {session.get_inputs()[0].name: probe})[0][0]
        try:
            same = np.allclose(decode_head(cut, height, width, body.head, 0.0), whole,
                               rtol=1e-3, atol=1e-2)
        except ValueError:
            same = False
        if not same:
            log.info("model %r: runs at its own size (its cut graph decodes differently)",
                     self.model_id)
            return
        self._session, self._head = session, body.head
        self._input_name, self._output_name = session.get_inputs()[0].name, session.get_outputs()[0].name

    def _fail(self, message: str) -> ModelError:
        return fail(self.model_id, message)

    # --- per frame ----------------------------------------------------------------------

    def detect(self, frame: Frame) -> sv.Detections:
        """Detections in ``frame``'s pixels, renamed by ``class_map`` and filtered.

        Raises:
            ModelError: called after ``close()``.
        """
        if self._session is None:
            raise self._fail("detector is closed")
        blob, scale, pad_x, pad_y = self._input(frame)
        session, feed = self._session, {self._input_name: blob}

        def infer() -> np.ndarray:
            started = time.perf_counter()
            result: np.ndarray = session.run([self._output_name], feed)[0]
            self.last_inference_s = time.perf_counter() - started
            return result

        output = self._through(infer, frame.routine)[0]
        if self._head is not None:
            output = decode_head(output, blob.shape[2], blob.shape[3], self._head, self.confidence)
        boxes, scores, class_ids = self._decode(output, self.confidence)
        unletterbox(boxes, scale, pad_x, pad_y, frame.width, frame.height)
        names = [self.class_names[index] for index in class_ids]
        dets = make_detections(boxes, scores, names, self.model_id, class_ids=class_ids)
        return filter_classes(dets, self.config.class_map, self.config.classes, self.confidence)

    def _input(self, frame: Frame) -> tuple[np.ndarray, float, float, float]:
        """The model's input for ``frame`` and how to undo it (scale, x and y padding in
        input pixels). At the model's own size: the frame letterboxed into it. At a free
        size: the frame at the scale the model's own input would give it, or for a
        region (``frame.region``) the part of that picture around it, cut on the model's
        32-pixel grid.

        Why on the grid: a cut there is a sub-window of exactly the pixels the whole
        picture gives, at the same places on the model's grid of cells, so the model finds
        there what it finds in the whole picture (up to a few cells from the cut). A cut
        elsewhere resamples the picture and shifts the grid: scores near the threshold
        then flip, and a borderline person seen in the whole picture can be missed."""
        if self._head is None:
            return self._preprocess(frame.image)
        height, width = self.input_size
        scale = min(height / frame.height, width / frame.width)
        size = fit_input(frame.height, frame.width, scale)
        canvas, scale, pad_x, pad_y = letterbox_canvas(frame.image, size, scale)
        x0, y0, x1, y1 = 0, 0, size[1], size[0]
        if frame.region is not None:
            left, top, right, bottom = frame.region
            x0 = int(left * frame.width * scale + pad_x) // ALIGN * ALIGN
            y0 = int(top * frame.height * scale + pad_y) // ALIGN * ALIGN
            x1 = min(x1, max(x0 + ALIGN, -(-math.ceil(right * frame.width * scale + pad_x) // ALIGN) * ALIGN))
            y1 = min(y1, max(y0 + ALIGN, -(-math.ceil(bottom * frame.height * scale + pad_y) // ALIGN) * ALIGN))
        blob = to_blob(np.ascontiguousarray(canvas[y0:y1, x0:x1]), self._input_dtype)
        return blob, scale, pad_x - x0, pad_y - y0

    def _preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The NCHW blob for ``image`` letterboxed into the model's own input size, and how
        to undo it (int8 calibration and a model run as exported use it)."""
        return letterbox(image, self.input_size, self._input_dtype)

    def _decode(self, raw: np.ndarray, confidence: float) -> Decoded:
        """``[4+nc, N]`` → (xyxy in input pixels, score, class id) above ``confidence``
        after class-aware NMS at the config's ``iou``."""
        return decode(raw, confidence, self.config.iou, self.model_id)

    def close(self) -> None:
        """Release the session (its memory); later ``detect`` calls raise ``ModelError``."""
        self._session = None


def _call(fn: Callable[[], np.ndarray], routine: bool = False) -> np.ndarray:
    return fn()
