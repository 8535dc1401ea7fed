"""Making an int8 copy: quantize the body (static QDQ, per-channel int8 weights, uint8
activations) with each calibration method, judge each against fp32 on frames it was not
calibrated on, keep the best.

int8 scores sit a little off fp32's near the threshold, so the same threshold gives a
different box count: each method gets its own threshold, chosen so its box count matches
fp32's (``streamer.detect.int8.parity.choose_threshold``), and is judged on frames it was
not calibrated on, in two folds, each with a threshold chosen without it (recall/precision
of fp32's boxes at IoU >= 0.5, count ratio, mean IoU).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamer.detect.int8.frames import read_frames, shown
from streamer.detect.int8.graph import head_nodes
from streamer.detect.int8.parity import NEAR_MARGIN, Boxes, Decoder, choose_threshold, parity
from streamer.errors import ModelError

RECIPE_VERSION = "4"  # bump when the recipe changes: old cache entries are then ignored
HISTOGRAM_FRAMES = 8  # Entropy/Percentile: frames whose activations are held at once
METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Int8Request:
    """Everything that decides an int8 copy, from the model's config and its camera."""

    model_id: str
    model_path: Path            # a float32 model (a float16 one's float32 copy)
    calibration: int | str | Path
    frames: int
    methods: tuple[str, ...]
    confidence: float
    iou: float
    input_size: tuple[int, int]
    threads: int | None
    # Each class index's name as the rules see it (after class_map): parity is judged on
    # these, so it is part of what decides the copy's report.
    judged_names: tuple[str, ...] = ()

    def key(self, model_digest: str, calib_digest: str) -> str:
        """The cache key: what changes the copy or its report (not the parity thresholds)."""
        import onnxruntime

        text = json.dumps([
            RECIPE_VERSION, model_digest, calib_digest, onnxruntime.__version__, self.frames,
            sorted(self.methods), self.confidence, self.iou, list(self.input_size),
            list(self.judged_names),
        ])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over blobs already in memory; with
    ``set_range`` and ``len`` so that ``CalibStridedMinMax`` can feed a calibrator a few
    frames at a time (histograms merge across chunks, so memory no longer caps the frames)."""

    def __init__(self, input_name: str, blobs: Sequence[np.ndarray]) -> None:
        self._feeds = [{input_name: blob} for blob in blobs]
        self._items = iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._items = iter(self._feeds[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - onnxruntime calls it on some versions
        self._items = iter(self._feeds)



def build(request: Int8Request, decode: Decoder, letterbox: Callable[[np.ndarray], np.ndarray],
          class_names: Sequence[str], progress: Progress, target: Path) -> dict[str, Any]:
    """Calibrate with each method, keep the best parity on held-out frames; returns the report.

    Frames are dealt round-robin, so every set spreads over the whole source: one of every
    four calibrates (MinMax's ranges settle well before that: 40 frames); the other three
    quarters, never calibrated on, are judged in two folds, each with the threshold chosen
    without it (on the calibration frames and the other fold), so every one of them is
    judged and none by a threshold fitted on it. Judging many frames matters more than
    calibrating on many: a sparse scene has few boxes, and recall >= 0.97 on 18 of them
    (the old held-out quarter of 160 bikes.mp4 frames) allowed no miss at all. The kept
    threshold is then chosen on all the frames.
    """
    import onnx
    import onnxruntime as ort

    where = f"model {request.model_id!r}: calibration"
    progress(f"model {request.model_id!r}: making an int8 copy (once; cached): reading "
             f"{request.frames} frames from {shown(request.calibration)}")
    frames = read_frames(request.calibration, request.frames, where)
    if len(frames) < 4:
        raise ModelError(f"{where}: {shown(request.calibration)} gave {len(frames)} frames; "
                         "at least 4 are needed")
    blobs = [letterbox(frame) for frame in frames]
    del frames  # a 1080p frame is 6 MB: keep only the blobs
    calib = [i for i in range(len(blobs)) if i % 4 == 0]
    rest = [i for i in range(len(blobs)) if i % 4 != 0]
    folds = (rest[0::2], rest[1::2])

    options = ort.SessionOptions()
    if request.threads:
        options.intra_op_num_threads = request.threads
    fp32 = ort.InferenceSession(str(request.model_path), options, providers=["CPUExecutionProvider"])
    input_name = fp32.get_inputs()[0].name
    reference = [decode(fp32.run(None, {input_name: b})[0][0], request.confidence)
                 for b in blobs]
    split = _Split(blobs, calib, folds, reference)

    model = onnx.load(str(request.model_path))
    exclude = head_nodes(model)
    candidates: list[dict[str, Any]] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        for number, method in enumerate(request.methods, 1):
            candidates.append(_try_method(
                request, method, number, split, input_name, exclude, options,
                decode, class_names, progress, target,
            ))
        best = max(candidates, key=lambda c: (c["eval"]["recall"] + c["eval"]["precision"]
                                              - abs(c["eval"]["count_ratio"] - 1)))
        os.replace(target.with_name(best["file"]), target)
    finally:  # an interrupted calibration leaves no half-made candidates behind
        for method in request.methods:
            target.with_name(f"{target.stem}.{method}.onnx").unlink(missing_ok=True)
    int8 = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    fp32_s, int8_s = time_sessions(fp32, int8)
    return {
        "model": str(request.model_path), "method": best["method"],
        "confidence": request.confidence, "int8_confidence": best["int8_confidence"],
        "eval": best["eval"], "candidates": candidates,
        "frames": {"calibration": len(calib), "eval": len(rest)},
        "fp32_ms": round(fp32_s * 1000, 1), "int8_ms": round(int8_s * 1000, 1),
        "float_nodes": len(exclude), "forced": False,
    }


def time_sessions(*sessions: Any, rounds: int = 3) -> list[float]:
    """Best seconds per inference of each session, interleaved so that a burst of load
    from other processes hits both alike; the first run of each only warms it."""
    feeds = []
    for session in sessions:
        spec = session.get_inputs()[0]
        shape = [dim if isinstance(dim, int) and dim > 0 else 640
                 for dim in spec.shape]
        shape[0] = 1
        dtype = np.float16 if spec.type == "tensor(float16)" else np.float32
        feeds.append({spec.name: np.full(shape, 0.5, dtype=dtype)})
        session.run(None, feeds[-1])
    best = [float("inf")] * len(sessions)
    for _ in range(rounds):
        for index, session in enumerate(sessions):
            started = time.perf_counter()
            session.run(None, feeds[index])
            best[index] = min(best[index], time.perf_counter() - started)
    return best


class _DropQuantizerAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer prints to stdout and logs advice on the root logger; our
    progress lines say what is happening, so theirs would only bury them."""
    root, advice = logging.getLogger(), _DropQuantizerAdvice()
    root.addFilter(advice)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        root.removeFilter(advice)


@dataclass(frozen=True)
class _Split:
    """The frames' blobs, which calibrate, the two judged folds, and fp32's boxes on each."""

    blobs: list[np.ndarray]
    calib: list[int]
    folds: tuple[list[int], list[int]]
    reference: list[Boxes]

    def fp32_count(self, indices: Sequence[int]) -> int:
        return sum(len(self.reference[i][0]) for i in indices)


def _try_method(request: Int8Request, method: str, number: int, split: _Split,
                input_name: str, exclude: list[str], options: Any, decode: Decoder,
                class_names: Sequence[str], progress: Progress, target: Path) -> dict[str, Any]:
    """Quantize with one calibration method, judge each fold with the threshold chosen
    without it, and choose the kept threshold on all the frames."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    started = time.perf_counter()
    calib = [split.blobs[i] for i in split.calib]
    extra: dict[str, Any] = {"CalibMovingAverage": method == "minmax"}
    if method != "minmax":
        # Histogram calibrators hold every intermediate tensor of the frames they are fed
        # (a YOLOv8s at 640: hundreds of MB a frame; 48 at once got the process killed):
        # fed HISTOGRAM_FRAMES at a time, their histograms merge (the count must divide).
        stride = min(HISTOGRAM_FRAMES, len(calib))
        calib = calib[: len(calib) - len(calib) % stride]
        extra["CalibStridedMinMax"] = stride
        # Percentile keeps onnxruntime's cut, 99.999: 99.99 clipped too much (class-score
        # error 0.041 against MinMax's 0.035 on the person model).
    progress(f"model {request.model_id!r}: int8 calibration {number}/{len(request.methods)} "
             f"({METHODS[method]}) on {len(calib)} frames, {len(exclude)} nodes kept float "
             "(the head and the body's two ends)")
    out = target.with_name(f"{target.stem}.{method}.onnx")
    with _quiet_quantizer():
        quantize_static(
            str(request.model_path), str(out), _Reader(input_name, calib),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, METHODS[method]),
            nodes_to_exclude=exclude, extra_options=extra,
        )
    int8 = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    raws = [int8.run(None, {input_name: b})[0][0] for b in split.blobs]

    def fit(indices: Sequence[int]) -> float:
        return choose_threshold([raws[i] for i in indices], decode, request.confidence,
                                split.fp32_count(indices))

    judged: list[tuple[int, float]] = []  # (frame, the threshold fitted without it)
    fold_thresholds = []
    for judged_fold, other_fold in (split.folds, split.folds[::-1]):
        fold_thresholds.append(fit(split.calib + other_fold))
        judged += [(i, fold_thresholds[-1]) for i in judged_fold]
    reference = [split.reference[i] for i, _ in judged]
    figures = parity(reference, [decode(raws[i], t) for i, t in judged], class_names)
    # Diagnostic only, the verdict stays strict: fp32's boxes found among int8's scoring
    # up to NEAR_MARGIN under its threshold. Misses that this finds are objects int8 sees
    # with a score a hair under the cut (the same flip happens between two fp32 frames).
    near = [decode(raws[i], max(0.01, t - NEAR_MARGIN)) for i, t in judged]
    figures["recall_near"] = parity(reference, near, class_names)["recall"]
    threshold = fit(range(len(raws)))
    seconds = time.perf_counter() - started
    progress(f"model {request.model_id!r}: {METHODS[method]}: threshold {threshold:.3f}, "
             f"recall {figures['recall']:.3f}, precision {figures['precision']:.3f}, "
             f"count {figures['count_ratio']:.3f}x fp32 (fold thresholds "
             f"{', '.join(f'{t:.3f}' for t in fold_thresholds)}), recall within {NEAR_MARGIN} of the "
             f"threshold {figures['recall_near']:.3f} ({seconds:.0f} s)")
    return {"method": method, "file": out.name, "int8_confidence": threshold,
            "fold_thresholds": fold_thresholds, "eval": figures, "seconds": round(seconds, 1)}


