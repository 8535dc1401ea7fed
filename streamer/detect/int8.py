"""int8 copies of ONNX detectors, calibrated on frames of the camera they will watch.

On a CPU with VNNI/AMX the body of a YOLO model runs ~1.7x faster in int8 (static QDQ,
per-channel weights). The head must stay float: its output concatenates pixel boxes with
0..1 scores, which cannot share one int8 scale. The head is found from the graph (walk back
from the outputs through every non-Conv op; the Convs met are kept float too, and a Conv fed
by a Softmax, YOLO's DFL, is walked through), not from one model's node names.

int8 scores sit a little off fp32's near the threshold, so the same threshold gives a
different box count: each calibration method (MinMax, Entropy, Percentile) gets its own
threshold, chosen so its box count matches fp32's, and is judged on frames it was not
calibrated on, in two folds, each with a threshold chosen without it (recall/precision of
fp32's boxes at IoU >= 0.5, count ratio, mean IoU). The best is kept.

Cache: ``<streamer cache>/int8/<key>.onnx`` + ``.json`` (the parity report), the key a hash
of the model file, the calibration set, onnxruntime's version and the settings that change
the result. Whether int8 is used is decided from the report against the config's
thresholds at each start (cheap), so changing a threshold never calibrates again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.cache import cache_root
from streamer.detect.fp16 import file_digest
from streamer.errors import ModelError

log = logging.getLogger("streamer.detect.int8")

RECIPE_VERSION = "4"  # bump when the recipe changes: old cache entries are then ignored
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
MATCH_IOU = 0.5
# Walking back from the outputs passes through a Conv fed by one of these (YOLO's DFL
# integrates a softmax over distance bins with a fixed 1x1 conv: post-processing, not features).
PASS_THROUGH_CONV_INPUTS = {"Softmax"}
LIVE_READ_TIMEOUT_S = 30.0
HISTOGRAM_FRAMES = 8  # Entropy/Percentile: frames whose activations are held at once
INPUT_FLOAT_DEPTH = 6  # Convs from the image kept float (YOLOv8: stem, model.1, model.2)
HEAD_FLOAT_DEPTH = 1  # Convs before each head input kept float (YOLOv8: each last C2f's cv2)
MAX_FLOAT_SHARE = 0.4  # of the body's Convs, at most, kept float by float_ends
NEAR_MARGIN = 0.05  # score margin of the report's diagnostic recall_near

Progress = Callable[[str], None]
# raw output [4+nc, N] -> (xyxy, scores, class ids) above a threshold, after NMS
Decoder = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray, np.ndarray]]


# --- the head -----------------------------------------------------------------------------


def head_nodes(model: Any) -> list[str]:
    """Names of the nodes to keep float: the detection head, found from the graph.

    Walking back from the outputs, the head is everything up to the feature maps it shares
    with the rest of the network: a tensor read by two or more Convs (YOLOv8's neck outputs
    each feed the box branch, the class branch and the next neck stage). A graph without
    such a fork falls back to a narrower head: up to the last feature Convs (kept float
    too), walking through a Conv only when a Softmax feeds it (YOLO's DFL). The body's two
    ends are added (``float_ends``).
    """
    conv_readers: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            conv_readers[node.input[0]] = conv_readers.get(node.input[0], 0) + 1
    convs = sum(conv_readers.values())
    head = _walk_back(model, stop=lambda tensor, node: conv_readers.get(tensor, 0) >= 2)
    kept_convs = sum(1 for node in model.graph.node if node.op_type == "Conv" and node.name in head)
    if kept_convs * 2 > convs:  # no shared features: the walk ate the body
        producer = {out: node for node in model.graph.node for out in node.output}

        def feature_conv(tensor: str, reader: Any) -> bool:
            source = producer.get(tensor)
            return reader.op_type == "Conv" and (
                source is None or source.op_type not in PASS_THROUGH_CONV_INPUTS
            )

        head = _walk_back(model, stop=feature_conv)
    return head + [name for name in float_ends(model, head) if name not in head]


def float_ends(model: Any, head: Sequence[str], input_depth: int = INPUT_FLOAT_DEPTH,
               head_depth: int = HEAD_FLOAT_DEPTH) -> list[str]:
    """The body's nodes nearest the image and nearest the head: kept float with the head.

    Quantization error starts at the first int8 layer and grows with every layer after it;
    the layers nearest the image see the least-compressible signal (raw pixels, wide
    activations at full resolution) and those feeding the head turn any error left into
    score error. Measured on the person model (bikes.mp4, mean class-score error against
    fp32 where fp32's score > 0.1; speed per inference against fp32 on 2 cores):

    =====================================  ======  =====  ===========================
    kept float                             error   speed  all 250 frames, int8 at 0.51/0.52
    =====================================  ======  =====  ===========================
    head and stem (the previous recipe)    0.035   1.61x  recall 0.928, count 0.99
    + first 6 Convs                        0.019   1.44x  recall 0.969, count 1.01
    + first 6, last 1 before each input    0.018   1.41x  recall 0.990, count 1.02
    + first 6, last 4 before each input    0.015   1.28x  recall 0.979, count 1.00
    =====================================  ======  =====  ===========================

    Nearest the image: nodes whose longest path from the input crosses <= ``input_depth``
    Convs. Nearest the head: nodes within ``head_depth`` Convs of one of the head's inputs
    (``_near_head``). Both shrink (head side first) until at most MAX_FLOAT_SHARE of the
    body's Convs stay float, so a small model is still mostly int8.
    """
    head_set = set(head)
    body_convs = [n for n in model.graph.node if n.op_type == "Conv" and n.name not in head_set]
    while True:
        ends = _near_input(model, head_set, input_depth) | _near_head(model, head_set, head_depth)
        float_convs = sum(1 for n in body_convs if n.name in ends)
        if float_convs <= MAX_FLOAT_SHARE * len(body_convs) or input_depth <= 1:
            return [n.name for n in model.graph.node if n.name in ends]
        if head_depth > 0:
            head_depth -= 1
        else:
            input_depth -= 1


def _near_input(model: Any, head: set[str], depth: int) -> set[str]:
    """Body nodes fed by the graph's input through at most ``depth`` Convs (longest path;
    nodes are in topological order in an ONNX graph)."""
    inputs = {graph_input.name for graph_input in model.graph.input}
    convs_before: dict[str, int] = {name: 0 for name in inputs}
    near: set[str] = set()
    for node in model.graph.node:
        reached = [convs_before[name] for name in node.input if name in convs_before]
        if not reached or node.name in head:
            continue
        count = max(reached) + (node.op_type == "Conv")
        for out in node.output:
            convs_before[out] = count
        if count <= depth and node.name:
            near.add(node.name)
    return near


def _near_head(model: Any, head: set[str], depth: int) -> set[str]:
    """Body nodes within ``depth`` Convs of a head input, counted along the longest path to
    that input (so a block that also feeds a later stage, YOLOv8's P3 C2f, still counts as
    near its own head input, and a skip connection does not pull earlier stages in)."""
    if depth <= 0:
        return set()
    producer = {out for node in model.graph.node if node.name not in head for out in node.output}
    head_inputs = {name for node in model.graph.node if node.name in head
                   for name in node.input if name in producer}
    nearest: dict[str, int] = {}
    for target in head_inputs:
        convs_after = {target: 0}  # tensor -> most Convs on a path from it to target
        for node in reversed(model.graph.node):
            reached = [convs_after[out] for out in node.output if out in convs_after]
            if not reached or node.name in head or not node.name:
                continue
            count = max(reached) + (node.op_type == "Conv")
            nearest[node.name] = min(nearest.get(node.name, count), count)
            for name in node.input:
                convs_after[name] = max(convs_after.get(name, 0), count)
    return {name for name, count in nearest.items() if count <= depth}


def _walk_back(model: Any, stop: Callable[[str, Any], bool]) -> list[str]:
    """Nodes reached from the outputs, not walking into a node's input when ``stop(input,
    node)`` says it is body (unnamed nodes get a name: quantize_static excludes by name)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    keep: dict[str, None] = {}
    stack = [output.name for output in model.graph.output]
    seen: set[str] = set()
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or tensor in seen:
            continue
        seen.add(tensor)
        if not node.name:
            node.name = f"{node.op_type}_{tensor}"
        keep[node.name] = None
        stack.extend(name for name in node.input if not stop(name, node))
    return list(keep)


# --- calibration frames ---------------------------------------------------------------------


def is_live(source: int | str | Path) -> bool:
    """A camera index or a URL: no end, no seeking, so calibration takes its first frames."""
    if isinstance(source, int):
        return True
    text = str(source)
    return text.isdigit() or "://" in text


def read_frames(source: int | str | Path, count: int, where: str) -> list[np.ndarray]:
    """``count`` BGR frames spread over a video file or a folder of images (evenly spaced),
    or the first ``count`` of a live source.

    Raises:
        ModelError: the source cannot be opened or yields no frame (``where`` names it).
    """
    if not is_live(source):
        path = Path(source)
        if path.is_dir():
            return _read_images(path, count, where)
        if not path.is_file():
            raise ModelError(f"{where}: no such file or folder: {path}")
    capture = cv2.VideoCapture(int(source) if str(source).isdigit() else str(source))
    try:
        if not capture.isOpened():
            raise ModelError(f"{where}: cannot open {source} as a video")
        if is_live(source):
            frames = _read_first(capture, count)
        else:
            total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            frames = _read_spread(capture, count, total)
    finally:
        capture.release()
    if not frames:
        raise ModelError(f"{where}: {source} gave no frame (not a readable video?)")
    return frames


def _read_images(folder: Path, count: int, where: str) -> list[np.ndarray]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelError(f"{where}: {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    frames = []
    for index in _spread(len(files), count):
        image = cv2.imread(str(files[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise ModelError(f"{where}: {files[index]} is not a readable image")
        frames.append(image)
    return frames


def _spread(total: int, count: int) -> list[int]:
    if total <= count:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, count)})


def _read_spread(capture: cv2.VideoCapture, count: int, total: int) -> list[np.ndarray]:
    """Sequential grabs (exact on every codec) up to a few thousand frames, seeks beyond."""
    wanted = _spread(total, count) if total > 0 else list(range(count))
    frames: list[np.ndarray] = []
    if total > 5000:
        for index in wanted:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, image = capture.read()
            if ok:
                frames.append(image)
        return frames
    targets = set(wanted)
    for index in range(wanted[-1] + 1 if wanted else 0):
        if not capture.grab():
            break
        if index in targets:
            ok, image = capture.retrieve()
            if ok:
                frames.append(image)
    return frames


def _read_first(capture: cv2.VideoCapture, count: int) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    deadline = time.monotonic() + LIVE_READ_TIMEOUT_S
    while len(frames) < count and time.monotonic() < deadline:
        ok, image = capture.read()
        if ok:
            frames.append(image)
    return frames


def calibration_digest(source: int | str | Path) -> str:
    """What identifies a calibration set without reading its frames: the bytes of a file or
    of a folder's images; a live source's address (its frames differ at every start)."""
    digest = hashlib.sha256()
    if is_live(source):
        digest.update(f"live:{source}".encode())
        return digest.hexdigest()
    path = Path(source)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if path.is_dir() else [path]
    )
    for file in files:
        digest.update(file.name.encode())
        try:
            digest.update(file_digest(file).encode())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


# --- parity -------------------------------------------------------------------------------


Boxes = tuple[np.ndarray, np.ndarray, np.ndarray]  # xyxy, scores, class ids


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _match(ref: np.ndarray, got: np.ndarray) -> list[float]:
    """IoUs of a greedy one-to-one matching (best pairs first) at IoU >= MATCH_IOU."""
    ious = _iou_matrix(ref, got)
    matched: list[float] = []
    used_ref: set[int] = set()
    used_got: set[int] = set()
    for flat in np.argsort(-ious, axis=None):
        i, j = divmod(int(flat), ious.shape[1])
        if ious[i, j] < MATCH_IOU:
            break
        if i in used_ref or j in used_got:
            continue
        used_ref.add(i)
        used_got.add(j)
        matched.append(float(ious[i, j]))
    return matched


def parity(reference: Sequence[Boxes], candidate: Sequence[Boxes],
           class_names: Sequence[str]) -> dict[str, Any]:
    """Recall and precision of the reference's boxes, count ratio and mean IoU of matched
    boxes, overall and per class (matched within a class only)."""
    per_class: dict[str, dict[str, Any]] = {}
    for class_id, name in enumerate(class_names):
        ref_n = got_n = 0
        ious: list[float] = []
        for (ref_xyxy, _, ref_cls), (got_xyxy, _, got_cls) in zip(reference, candidate):
            ref_boxes, got_boxes = ref_xyxy[ref_cls == class_id], got_xyxy[got_cls == class_id]
            ref_n += len(ref_boxes)
            got_n += len(got_boxes)
            ious += _match(ref_boxes, got_boxes)
        if ref_n or got_n:
            per_class[name] = _figures(ref_n, got_n, ious)
    ref_total = sum(c["fp32_boxes"] for c in per_class.values())
    got_total = sum(c["int8_boxes"] for c in per_class.values())
    matched = sum(c["matched"] for c in per_class.values())
    iou_sum = sum(c["mean_iou"] * c["matched"] for c in per_class.values())
    overall = _figures(ref_total, got_total, [iou_sum / matched] * matched if matched else [])
    return {**overall, "per_class": per_class}


def _figures(ref_n: int, got_n: int, ious: list[float]) -> dict[str, Any]:
    return {
        "fp32_boxes": ref_n, "int8_boxes": got_n, "matched": len(ious),
        "recall": len(ious) / ref_n if ref_n else 1.0,
        "precision": len(ious) / got_n if got_n else 1.0,
        "count_ratio": got_n / ref_n if ref_n else (1.0 if got_n == 0 else float("inf")),
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
    }


def choose_threshold(raws: Sequence[np.ndarray], decode: Decoder, confidence: float,
                     target: int) -> float:
    """The int8 threshold whose box count on these frames is closest to ``target`` (fp32's),
    nearest the configured one on ties. NMS at a lower threshold then filtering by score is
    the same as NMS at the higher one (a box is only suppressed by higher-scoring ones)."""
    low = max(0.01, confidence - 0.3)
    scores = np.concatenate([decode(raw, low)[1] for raw in raws]) if raws else np.zeros(0)
    grid = np.round(np.arange(low, min(0.99, confidence + 0.3) + 1e-9, 0.0025), 4)
    counts = np.array([(scores >= t).sum() for t in grid])
    cost = np.abs(counts - target) + np.abs(grid - confidence) * 1e-3
    return float(grid[int(np.argmin(cost))])


def filter_boxes(boxes: Boxes, threshold: float) -> Boxes:
    keep = boxes[1] >= threshold
    return boxes[0][keep], boxes[1][keep], boxes[2][keep]


# --- the whole recipe ------------------------------------------------------------------------


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

    def key(self, model_digest: str, calib_digest: str) -> str:
        import onnxruntime

        text = json.dumps([
            RECIPE_VERSION, model_digest, calib_digest, onnxruntime.__version__, self.frames,
            sorted(self.methods), self.confidence, self.iou, list(self.input_size),
        ])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Int8Plan:
    """A cached (or just made) int8 copy and its parity report."""

    path: Path
    report: dict[str, Any]
    calibrated_now: bool

    @property
    def confidence(self) -> float:
        return float(self.report["int8_confidence"])

    def verdict(self, min_recall: float, max_count_error: float) -> str | None:
        """Why int8 falls short of these thresholds, or None when it passes (or was forced)."""
        if self.report.get("forced"):
            return None
        best = self.report["eval"]
        reasons = []
        if best["recall"] < min_recall:
            reasons.append(f"recall {best['recall']:.3f} < {min_recall}")
        if abs(best["count_ratio"] - 1) > max_count_error:
            reasons.append(
                f"box count {best['count_ratio']:.3f}x fp32's, outside ±{max_count_error:.0%}"
            )
        return "; ".join(reasons) or None


def cache_paths(request: Int8Request, cache_dir: Path | None = None) -> tuple[Path, Path]:
    """(model, report) paths for this request; hashing the calibration set reads it."""
    where = f"model {request.model_id!r}: calibration"
    source = request.calibration
    if not is_live(source) and not Path(source).exists():
        raise ModelError(f"{where}: no such file or folder: {source}")
    key = request.key(file_digest(request.model_path), calibration_digest(source))
    folder = (cache_dir or cache_root()) / "int8"
    return folder / f"{key}.onnx", folder / f"{key}.json"


def load_or_build(request: Int8Request, decode: Decoder, letterbox: Callable[[np.ndarray], np.ndarray],
                  class_names: Sequence[str], progress: Progress,
                  cache_dir: Path | None = None, rebuild: bool = False) -> Int8Plan:
    """The cached int8 copy for ``request``, made first when missing (or ``rebuild``)."""
    model_path, report_path = cache_paths(request, cache_dir)
    if not rebuild and model_path.is_file():
        try:
            report = json.loads(report_path.read_text())
            return Int8Plan(model_path, report, calibrated_now=False)
        except (OSError, ValueError):
            pass  # a half-written report: make it again
    report = build(request, decode, letterbox, class_names, progress, model_path)
    _write_atomic(report_path, json.dumps(report, indent=1).encode())
    return Int8Plan(model_path, report, calibrated_now=True)


def save_report(plan: Int8Plan, cache_dir: Path | None, request: Int8Request) -> None:
    """Rewrite a plan's report (``optimize --force`` records the override)."""
    _write_atomic(cache_paths(request, cache_dir)[1], json.dumps(plan.report, indent=1).encode())


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


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


METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


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
             f"{request.frames} frames from {_shown(request.calibration)}")
    frames = read_frames(request.calibration, request.frames, where)
    if len(frames) < 4:
        raise ModelError(f"{where}: {_shown(request.calibration)} gave {len(frames)} frames; "
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


def _shown(source: int | str | Path) -> str:
    """A live source's address may carry a password: show only its scheme and host."""
    text = str(source)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/…"
    return text


def format_report(report: dict[str, Any]) -> list[str]:
    """The parity report as table lines for ``streamer optimize``."""
    figures = report["eval"]
    lines = [
        f"int8 ({report['method']}, threshold {report['int8_confidence']:.3f} for fp32's "
        f"{report['confidence']}) on {report['frames']['eval']} frames never calibrated on, "
        "each judged with a threshold chosen without it:",
        f"  {'class':<16}{'fp32':>6}{'int8':>6}{'recall':>8}{'prec.':>8}{'count':>8}{'IoU':>7}",
    ]
    rows = [("all", figures)] + list(figures["per_class"].items())
    for name, row in rows:
        lines.append(
            f"  {name:<16}{row['fp32_boxes']:>6}{row['int8_boxes']:>6}{row['recall']:>8.3f}"
            f"{row['precision']:>8.3f}{row['count_ratio']:>7.3f}x{row['mean_iou']:>7.3f}"
        )
    if "recall_near" in figures:
        lines.append(f"  recall counting int8 boxes up to {NEAR_MARGIN} under its threshold "
                     f"(not judged): {figures['recall_near']:.3f}")
    speedup = report["fp32_ms"] / report["int8_ms"] if report["int8_ms"] else 0.0
    lines.append(f"  speed: fp32 {report['fp32_ms']:.1f} ms, int8 {report['int8_ms']:.1f} ms "
                 f"per inference ({speedup:.2f}x)")
    for candidate in report["candidates"]:
        row = candidate["eval"]
        lines.append(f"  tried {candidate['method']:<10} threshold {candidate['int8_confidence']:.3f}"
                     f" recall {row['recall']:.3f} count {row['count_ratio']:.3f}x "
                     f"({candidate['seconds']} s)")
    return lines
