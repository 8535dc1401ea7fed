"""YOLOv8/YOLO11-style ONNX detector on onnxruntime (CPU), with no torch and no ultralytics.

The model must take one image ``[1, 3, H, W]`` and return ``[1, 4 + classes, N]``: per
anchor ``cx, cy, w, h`` in input pixels, then one score per class (no objectness column,
no NMS inside the graph). Every problem with the file is found at load, as a ``ModelError``
naming the model, so a bad file stops ``run`` before the first frame, not during it.
"""

from __future__ import annotations

import ast
import copy
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import onnxruntime as ort
import supervision as sv
from pydantic import Field, PrivateAttr

from streamer.cache import cache_root
from streamer.detect.base import filter_classes, make_detections, note_invalid_boxes
from streamer.detect.int8 import Int8Plan, Int8Request, load_or_build, time_sessions
from streamer.detect.providers import (
    TENSORRT,
    auto_providers,
    engine_dir,
    missing_providers,
    precision_label,
    tensorrt_options,
    tensorrt_version,
    with_cpu_fallback,
)
from streamer.errors import ModelError
from streamer.schema.bases import ModelBase, ModelFacts
from streamer.source.frame import Frame

# --- config ---------------------------------------------------------------------------


OnnxProvider = Literal[
    "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider",
]


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
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field(
        "all", description="onnxruntime graph optimisation level (an int8 model needs "
        "extended or all: basic leaves its quantize/dequantize pairs unfused, ~2x slower)."
    )
    inter_op_threads: int = Field(
        1, ge=1, description="onnxruntime inter-op threads; above 1, independent branches "
        "of the graph run side by side (parallel executor). 1 (sequential) measured fastest "
        "for a YOLOv8s on 2 cores (parallel: 2x slower)."
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
    calibration_methods: list[Literal["minmax", "entropy", "percentile"]] = Field(
        default_factory=lambda: ["minmax"], min_length=1,
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
    # The camera's source, set by the config (default calibration set); not a YAML key.
    _camera_source: int | str | None = PrivateAttr(None)

    def adopt_camera(self, source: int | str) -> None:
        """Remember the camera's source: int8 calibrates on it unless `calibration` is set."""
        self._camera_source = source

    def build(self) -> OnnxDetector:
        return OnnxDetector(self)

    def output_classes(self) -> set[str] | None:
        """Known from ``names`` (through ``class_map``); the file's metadata needs I/O."""
        if self.classes is not None or self.names is None:
            return super().output_classes()
        return {self.class_map.get(name, name) for name in self.names}

    def inspect(self) -> ModelFacts:
        """Class names from ``names``, ``names_file`` or the file's own metadata (what
        Ultralytics exports write), read without starting a session (~50 ms for a YOLOv8s)."""
        path = Path(self.path)
        if not path.is_file():
            why = "is not a file" if path.exists() else "no such file"
            return ModelFacts(problems=((("path",), f"{why}: {path}"),))
        try:
            import onnx

            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf and onnx raise several unrelated types
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            return ModelFacts(problems=((("path",), f"{path} is not a readable ONNX model: "
                                         f"{reason}"),))
        indexed = _indexed_names(proto)
        given: tuple[str, list[str]] | None = None
        if self.names is not None:
            given = ("names", list(self.names))
        elif self.names_file is not None:
            try:
                given = ("names_file", read_names_file(Path(self.names_file)))
            except OSError as exc:
                return ModelFacts(problems=((("names_file",), f"cannot read {self.names_file}: "
                                             f"{exc.strerror or exc}"),))
        if given is not None:
            key, names = given
            if indexed is not None and len(names) != len(indexed):
                return ModelFacts(problems=(((key,), f"gives {len(names)} class names but the "
                                             f"model outputs {len(indexed)} classes"),))
            return ModelFacts(tuple(names))
        metadata = {prop.key: prop.value for prop in proto.metadata_props}
        names = parse_names_metadata(metadata.get("names")) or indexed
        return ModelFacts(tuple(names) if names is not None else None)


# --- plugin -----------------------------------------------------------------------------


log = logging.getLogger("streamer.detect.onnx")

LETTERBOX_GREY = 114
DEFAULT_INPUT_SIZE = 640
# Same caps as Ultralytics' own NMS: a noisy frame cannot blow up NMS time or the tracker.
MAX_CANDIDATES = 30_000
MAX_DETECTIONS = 300
GRAPH_OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class OnnxDetector:
    """Runs one ONNX model on each frame; ``detect`` is called from the frame-loop thread.

    Attributes:
        model_id: the config's ``id``, copied onto every detection.
        input_size: model input as ``(height, width)`` in pixels.
        class_names: name of each output class index, before ``class_map``.
        last_inference_s: seconds spent in ``session.run`` on the latest call (benchmarks).
    """

    def __init__(self, config: OnnxModelConfig) -> None:
        """Load and check the model.

        Raises:
            ModelError: the file is missing, not an ONNX model, has unexpected input or
                output shapes, or its class names do not match its outputs.
        """
        self.config = config
        self.model_id: str = config.id
        self.path = Path(config.path)
        self.last_inference_s: float = 0.0
        self._session: ort.InferenceSession | None = self._open_session()
        if config.providers is None:
            log.info("model %r: providers chosen automatically (TensorRT, then CUDA, then CPU, "
                     "as this onnxruntime %s build offers): running on %s", self.model_id,
                     ort.__version__, ", ".join(self._session.get_providers()))
        self._input_name, self.input_size, self._input_dtype = self._check_input()
        self._output_name, num_classes = self._check_output()
        self.class_names: list[str] = self._resolve_names(num_classes)
        self._num_classes = num_classes
        self.confidence: float = config.confidence
        self.precision: str = "fp32"
        # How a session call is made: here, or through a box's shared inference workers.
        self._through: Callable[[Callable[[], np.ndarray]], np.ndarray] = _call
        if config.precision == "int8":
            self._use_int8()

    def view(
        self, config: OnnxModelConfig, through: Callable[[Callable[[], np.ndarray]], np.ndarray]
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
        source = self.config.calibration or self.config._camera_source
        if source is None:
            raise self._fail("precision: int8 needs `calibration: PATH` or a camera source")
        return Int8Request(
            model_id=self.model_id, model_path=self._float_path, calibration=source,
            frames=self.config.calibration_frames,
            methods=tuple(dict.fromkeys(self.config.calibration_methods)),
            confidence=self.config.confidence, iou=self.config.iou,
            input_size=self.input_size, threads=self.config.threads,
        )

    def int8_plan(self, rebuild: bool = False) -> Int8Plan:
        """The cached int8 copy, calibrated first when missing (progress lines in the log)."""
        return load_or_build(
            self.int8_request(), self._decode, lambda image: self._preprocess(image)[0],
            self.class_names, log.info, rebuild=rebuild,
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
        self._session = self._new_session(plan.path, self._providers())
        self.confidence = plan.confidence
        self.precision = "int8"
        log.info("model %r: running int8 %s (%s, threshold %.3f; %.2fx fp32's speed)%s",
                 self.model_id, plan.path.name, plan.report["method"], self.confidence,
                 plan.report["fp32_ms"] / max(plan.report["int8_ms"], 1e-9),
                 "" if plan.calibrated_now else " from the cache")

    # --- loading ------------------------------------------------------------------------

    def _fail(self, message: str) -> ModelError:
        return ModelError(f"model {self.model_id!r}: {message}")

    def _providers(self) -> list[str]:
        """The configured providers, checked against this onnxruntime build, or the best it
        offers where the config names none.

        onnxruntime itself only warns and falls back to the CPU when a provider is
        missing, so a Jetson config run on a CPU-only wheel would be slow in silence.
        """
        available = ort.get_available_providers()
        if self.config.providers is None:
            return auto_providers(available)
        missing = missing_providers(self.config.providers, available)
        if missing:
            raise self._fail(
                f"providers: {', '.join(missing)} not in this onnxruntime "
                f"{ort.__version__} build (it has {', '.join(available)}); install "
                "onnxruntime-gpu (CUDA/TensorRT) or list CPUExecutionProvider"
            )
        return with_cpu_fallback(self.config.providers)

    def _session_options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.graph_optimization_level = GRAPH_OPTIMIZATION[self.config.graph_optimization]
        # One frame at a time: parallelism inside operators, by default none between them.
        parallel = self.config.inter_op_threads > 1
        options.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL if parallel else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        options.inter_op_num_threads = self.config.inter_op_threads
        if self.config.threads is not None:
            options.intra_op_num_threads = self.config.threads
        return options

    def _new_session(self, path: Path, providers: list[str]) -> ort.InferenceSession:
        """A session on ``path``; TensorRT gets its engine cache on disk (building an engine
        takes minutes on a Jetson: once per model, precision and TensorRT version, not per
        start)."""
        configured: list[str | tuple[str, dict[str, str]]] = list(providers)
        if TENSORRT in providers:
            fp16, int8 = self.config.trt_fp16, self.config.precision == "int8"
            engines = engine_dir(self.config.trt_cache_dir or cache_root() / "trt", path,
                                 precision_label(fp16, int8), tensorrt_version())
            configured[providers.index(TENSORRT)] = (
                TENSORRT, tensorrt_options(engines, fp16=fp16, int8=int8))
        return ort.InferenceSession(
            str(path), sess_options=self._session_options(), providers=configured
        )

    def _open_session(self) -> ort.InferenceSession:
        if not self.path.exists():
            raise self._fail(f"no such file: {self.path}")
        if not self.path.is_file():
            raise self._fail(f"{self.path} is not a file")
        providers = self._providers()
        try:
            session = self._new_session(self.path, providers)
        except Exception as err:  # onnxruntime raises its own pybind types, not one base
            fp16_error: Exception | None = err
            session = None
        else:
            fp16_error = None
        self._float_path = self.path
        if self.config.fp32_cache and providers == ["CPUExecutionProvider"]:
            fp32_path = self._fp32_copy(session, fp16_error)
            if fp32_path is not None:
                self._float_path = fp32_path
                if self.config.precision == "int8":  # int8 is made from the float32 copy
                    return self._new_session(fp32_path, providers)
                return self._pick_faster(session, fp32_path, providers)
        if session is None:
            assert fp16_error is not None
            raise self._fail(
                f"{self.path} is not a loadable ONNX model: {_short_ort_reason(fp16_error)}"
            ) from fp16_error
        return session

    def _fp32_copy(
        self, session: ort.InferenceSession | None, error: Exception | None
    ) -> Path | None:
        """Path of the cached float32 copy of a float16 model, made on first use; None
        when the model is not float16 (or cannot be read as ONNX)."""
        if session is not None and not any(
            spec.type == "tensor(float16)" for spec in session.get_inputs()
        ):
            return None
        from streamer.detect.fp16 import Fp16Error, cached_fp32_copy

        try:
            return cached_fp32_copy(self.path)
        except Fp16Error as exc:
            if session is None:
                raise self._fail(
                    f"{self.path} is not a loadable ONNX model: "
                    f"{_short_ort_reason(error or exc)}"
                ) from None
            log.warning("model %r: float32 conversion skipped: %s", self.model_id, exc)
            return None

    def _pick_faster(
        self, fp16: ort.InferenceSession | None, fp32_path: Path, providers: list[str]
    ) -> ort.InferenceSession:
        """Keep whichever of the float16 model and its float32 copy runs faster here
        (CPU kernels are mostly float32: the float16 graph is full of casts, or lacks kernels)."""
        try:
            fp32 = self._new_session(fp32_path, providers)
        except Exception as err:
            if fp16 is None:
                raise self._fail(
                    f"{self.path}: neither it nor its float32 copy loads: "
                    f"{_short_ort_reason(err)}"
                ) from err
            return fp16
        if fp16 is None:
            log.info("model %r: float16 does not load on the CPU; running %s",
                     self.model_id, fp32_path)
            return fp32
        # Timed once per model file and remembered: on a shared machine two timings at
        # each start would flip the choice from run to run.
        choice_path = fp32_path.with_suffix(".choice.json")
        try:
            use_fp32 = bool(json.loads(choice_path.read_text())["use_fp32"])
        except (OSError, ValueError, KeyError, TypeError):
            fp16_s, fp32_s = time_sessions(fp16, fp32)
            use_fp32 = fp32_s < fp16_s
            log.info("model %r: float16 %.0f ms, float32 copy %.0f ms per inference; using %s",
                     self.model_id, fp16_s * 1000, fp32_s * 1000,
                     "float32" if use_fp32 else "float16")
            try:
                choice_path.write_text(json.dumps(
                    {"use_fp32": use_fp32, "fp16_ms": round(fp16_s * 1000, 1),
                     "fp32_ms": round(fp32_s * 1000, 1)}
                ))
            except OSError as exc:
                log.warning("model %r: cannot remember the float16/32 choice: %s",
                            self.model_id, exc)
        return fp32 if use_fp32 else fp16

    def _check_input(self) -> tuple[str, tuple[int, int], type[np.floating]]:
        assert self._session is not None
        inputs = self._session.get_inputs()
        expected = "expected one input [1, 3, H, W]"
        if len(inputs) != 1:
            got = ", ".join(f"{i.name} {list(i.shape)}" for i in inputs)
            raise self._fail(f"{expected}, got {len(inputs)} inputs ({got})")
        spec = inputs[0]
        shape = list(spec.shape)
        if (
            len(shape) != 4
            or not _dim_is(shape[0], 1)
            or not _dim_is(shape[1], 3)
        ):
            raise self._fail(f"{expected}, got input {shape}")
        size = self.config.input_size or DEFAULT_INPUT_SIZE
        height = shape[2] if isinstance(shape[2], int) and shape[2] > 0 else size
        width = shape[3] if isinstance(shape[3], int) and shape[3] > 0 else size
        if spec.type == "tensor(float16)":
            dtype: type[np.floating] = np.float16
        elif spec.type == "tensor(float)":
            dtype = np.float32
        else:
            raise self._fail(f"expected a float or float16 input, got {spec.type}")
        return spec.name, (int(height), int(width)), dtype

    def _check_output(self) -> tuple[str, int]:
        """Check the declared output shape, then the real one from a test inference.

        Dynamic exports declare symbolic dimensions, so only running the graph proves the
        layout; the run also warms the session so the first frame is not the slow one.
        """
        assert self._session is not None
        outputs = self._session.get_outputs()
        expected = "expected output [1, 4+classes, N]"
        if len(outputs) < 1:
            raise self._fail(f"{expected}, got no outputs")
        spec = outputs[0]
        declared = list(spec.shape)
        if len(declared) != 3 or not _dim_is(declared[0], 1) or (
            isinstance(declared[1], int) and declared[1] < 5
        ):
            raise self._fail(f"{expected}, got output {declared}")
        height, width = self.input_size
        probe = np.full((1, 3, height, width), 0.5, dtype=self._input_dtype)
        try:
            result = self._session.run([spec.name], {self._input_name: probe})[0]
        except Exception as err:
            raise self._fail(
                f"test inference on a [1, 3, {height}, {width}] input failed: "
                f"{_short_ort_reason(err)}"
            ) from err
        shape = list(np.shape(result))
        if len(shape) != 3 or shape[0] != 1 or shape[1] < 5:
            raise self._fail(f"{expected}, got output {shape}")
        if shape[1] == _anchor_count(height, width) != shape[2]:
            # [1, N, 4+classes] (transposed) exports would decode into garbage silently.
            raise self._fail(
                f"{expected}, got output {shape} (looks transposed: re-export with "
                "Ultralytics' default layout)"
            )
        return spec.name, shape[1] - 4

    def _resolve_names(self, num_classes: int) -> list[str]:
        source: str
        names: list[str] | None
        if self.config.names is not None:
            names, source = list(self.config.names), "`names`"
        elif self.config.names_file is not None:
            names, source = self._read_names_file(Path(self.config.names_file)), str(
                self.config.names_file
            )
        else:
            names, source = self._metadata_names(), "the model's metadata"
            if names is None:
                return [f"class_{index}" for index in range(num_classes)]
        if len(names) != num_classes:
            raise self._fail(
                f"{source} gives {len(names)} class names but the model outputs "
                f"{num_classes} classes"
            )
        return names

    def _read_names_file(self, path: Path) -> list[str]:
        try:
            return read_names_file(path)
        except OSError as err:
            raise self._fail(f"cannot read names_file {path}: {err.strerror or err}") from err

    def _metadata_names(self) -> list[str] | None:
        assert self._session is not None
        raw = self._session.get_modelmeta().custom_metadata_map.get("names")
        names = parse_names_metadata(raw)
        if raw and names is None:
            log.warning("model %r: unreadable `names` metadata %.80r; using class_<i>",
                        self.model_id, raw)
        return names

    # --- per frame ----------------------------------------------------------------------

    def detect(self, frame: Frame) -> sv.Detections:
        """Detections in ``frame``'s pixels, renamed by ``class_map`` and filtered.

        Raises:
            ModelError: called after ``close()``.
        """
        if self._session is None:
            raise self._fail("detector is closed")
        blob, scale, pad_x, pad_y = self._preprocess(frame.image)
        session, feed = self._session, {self._input_name: blob}

        def infer() -> np.ndarray:
            started = time.perf_counter()
            result = session.run([self._output_name], feed)[0]
            self.last_inference_s = time.perf_counter() - started
            return result  # type: ignore[no-any-return]

        output = self._through(infer)
        boxes, scores, class_ids = self._decode(output[0], self.confidence)
        # Undo the letterbox: remove the padding, then the resize.
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad_x) / scale
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad_y) / scale
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, frame.width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, frame.height)
        names = [self.class_names[index] for index in class_ids]
        dets = make_detections(boxes, scores, names, self.model_id, class_ids=class_ids)
        return filter_classes(dets, self.config.class_map, self.config.classes, self.confidence)

    def _preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """Letterbox into the input size (aspect kept, grey 114 borders, centred), as the
        YOLO models were trained; returns the NCHW RGB blob and how to undo it."""
        in_h, in_w = self.input_size
        src_h, src_w = image.shape[:2]
        scale = min(in_h / src_h, in_w / src_w)
        new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
        canvas = np.full((in_h, in_w, 3), LETTERBOX_GREY, dtype=np.uint8)
        if (new_w, new_h) != (src_w, src_h):
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = image
        blob = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 255.0, swapRB=True)
        if blob.dtype != self._input_dtype:
            blob = blob.astype(self._input_dtype)
        return blob, scale, float(pad_x), float(pad_y)

    def _decode(
        self, raw: np.ndarray, confidence: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``[4+nc, N]`` → (xyxy in input pixels, score, class id) above ``confidence``
        after class-aware NMS."""
        raw = raw.astype(np.float32, copy=False)
        class_scores = raw[4:]
        class_ids = class_scores.argmax(axis=0)
        scores = class_scores[class_ids, np.arange(class_scores.shape[1])]
        keep = np.flatnonzero(scores >= confidence)
        if len(keep) > MAX_CANDIDATES:
            keep = keep[np.argsort(-scores[keep])[:MAX_CANDIDATES]]
        if len(keep) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
        # NaN or inf boxes would reach NMS (and an inf width would be clipped into a
        # frame-wide box): dropped here one by one and counted, the others kept.
        with np.errstate(invalid="ignore"):
            sane = np.isfinite(raw[:4, keep]).all(axis=0) & (raw[2, keep] >= 0) & (raw[3, keep] >= 0)
        if not sane.all():
            note_invalid_boxes(self.model_id, int(len(keep) - sane.sum()))
            keep = keep[sane]
            if len(keep) == 0:
                return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
        cx, cy, w, h = raw[0, keep], raw[1, keep], raw[2, keep], raw[3, keep]
        scores, class_ids = scores[keep], class_ids[keep]
        xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
        chosen = np.asarray(
            cv2.dnn.NMSBoxesBatched(
                xywh, scores, class_ids.astype(np.int32), confidence, self.config.iou,
            ),
            dtype=int,
        ).reshape(-1)[:MAX_DETECTIONS]
        xyxy = xywh[chosen].copy()
        xyxy[:, 2] += xyxy[:, 0]
        xyxy[:, 3] += xyxy[:, 1]
        return xyxy, scores[chosen], class_ids[chosen]

    def close(self) -> None:
        """Release the session (its memory); later ``detect`` calls raise ``ModelError``."""
        self._session = None


def _call(fn: Callable[[], np.ndarray]) -> np.ndarray:
    return fn()


def read_names_file(path: Path) -> list[str]:
    """One class name per line; raises ``OSError`` when the file cannot be read."""
    text = path.read_text(encoding="utf-8")
    # Blank lines (a trailing newline, an editor's extra line) are not classes.
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_names_metadata(raw: str | None) -> list[str] | None:
    """Class names from a ``names`` metadata value, None when absent or unreadable.

    Ultralytics writes a Python literal such as ``"{0: 'Normal', 1: 'Fall'}"``.
    """
    if not raw:
        return None
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, dict):
        try:
            return [str(value[index]) for index in range(len(value))]
        except KeyError:  # keys are not 0..n-1
            return None
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return None


def _indexed_names(proto: object) -> list[str] | None:
    """``class_<i>`` for a model without names metadata, as the detector names them,
    when the output's class count is written in the graph ([1, 4+classes, N])."""
    try:
        dims = proto.graph.output[0].type.tensor_type.shape.dim  # type: ignore[attr-defined]
        channels = int(dims[1].dim_value) if len(dims) == 3 else 0
        if 0 < int(dims[2].dim_value) < channels:
            return None  # transposed: the detector refuses it at load
    except (AttributeError, IndexError, ValueError):
        return None
    return [f"class_{index}" for index in range(channels - 4)] if channels > 4 else None


def _anchor_count(height: int, width: int) -> int:
    """Anchors of a YOLOv8/YOLO11 head: one per cell of its stride 8, 16 and 32 grids."""
    return sum((height // stride) * (width // stride) for stride in (8, 16, 32))


def _dim_is(dim: object, value: int) -> bool:
    """A declared dimension matches when equal or symbolic (decided at run time)."""
    return not isinstance(dim, int) or dim == value or dim <= 0


def _short_ort_reason(err: Exception) -> str:
    """onnxruntime's messages repeat the path and an error code; keep the part a user needs."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", text)
    text = re.sub(r"^Load model from .* failed:\s*", "", text)
    return text[:200] or type(err).__name__


__all__ = ["OnnxDetector"]
