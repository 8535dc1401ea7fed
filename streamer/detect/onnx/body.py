"""A YOLOv8/YOLO11 model cut before its box decoding, so it runs at the size the picture needs.

Ultralytics exports a fixed square input (640 x 640) with the anchor grid of that size baked
into the graph as constants. Everything before the decoding is convolutions, fixed-scale
upsampling and a reshape with ``-1``: it runs at any input whose sides are multiples of 32.
So the graph is cut where the box distributions and class logits are concatenated
(``[1, 4 * reg_max + classes, anchors]``), the input's height and width are made free,
and the few lines of decoding (distribution focal loss, anchors, strides, sigmoid) run
here in numpy, only on the anchors whose class score passes the threshold.

Why: a 4:3 camera letterboxed into a square spends a quarter of each run on grey bands,
and a camera whose rules watch a part of the frame need not run the model on the rest
(``detect.region``, docs/motion.md). Both keep the scale the square input would have used,
so a person is as many input pixels tall as before and the model sees what it was trained
on. A model whose graph does not end in this head runs as exported.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.cache import cache_root
from streamer.detect.fp16 import file_digest, save_model

log = logging.getLogger("streamer.detect.onnx")

STRIDES = (8, 16, 32)  # the P3, P4, P5 outputs of a YOLOv8/YOLO11 detection head
ALIGN = max(STRIDES)  # input sides must be multiples of the coarsest stride
HEAD_OP = "Split"


@dataclass(frozen=True)
class HeadSpec:
    """What the numpy decoding needs: bins per box side and the number of classes."""

    reg_max: int
    num_classes: int


@dataclass(frozen=True)
class Body:
    """The cut model on disk and how to decode its output."""

    path: Path
    head: HeadSpec


def cut_body(path: Path, cache_dir: Path | None = None) -> Body | None:
    """The model at ``path`` cut before its decoding, with a free input size (made once,
    kept under the streamer cache); None when its graph has no YOLOv8-style head."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:  # a core dependency; without it the model runs as exported
        return None
    try:
        model = onnx.load(str(path))
    except Exception:  # protobuf's errors share no useful base; the session reports it
        return None
    graph = model.graph
    constants = {init.name: init for init in graph.initializer}
    found: tuple[str, HeadSpec] | None = None
    for node in graph.node:
        if node.op_type != HEAD_OP or len(node.input) < 2 or node.input[1] not in constants:
            continue
        sizes = numpy_helper.to_array(constants[node.input[1]]).tolist()
        if len(sizes) == 2 and sizes[0] % 4 == 0 and sizes[0] >= 4 and sizes[1] >= 1:
            found = (node.input[0], HeadSpec(sizes[0] // 4, sizes[1]))
    if found is None or len(graph.input) != 1:
        return None
    cut, head = found
    target = (cache_dir or cache_root()) / "body" / f"{file_digest(path)}.onnx"
    if target.is_file():
        return Body(target, head)
    try:
        body = onnx.utils.Extractor(model).extract_model([graph.input[0].name], [cut])
    except Exception as exc:  # onnx's extractor raises plain Exceptions on odd graphs
        log.info("model %s: cannot cut its decoding off (%s); it runs at its own size", path, exc)
        return None
    dims = body.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        return None
    for dim, name in ((dims[2], "height"), (dims[3], "width")):
        dim.ClearField("dim_value")
        dim.dim_param = name
    out = body.graph.output[0].type.tensor_type.shape.dim
    if len(out) == 3:
        out[2].ClearField("dim_value")
        out[2].dim_param = "anchors"
    del body.graph.value_info[:]  # shapes inferred for the fixed size no longer hold
    save_model(body, target)
    return Body(target, head)


def fit_input(height: int, width: int, scale: float) -> tuple[int, int]:
    """The smallest input (height, width), multiples of 32, that holds a ``height`` x
    ``width`` picture resized by ``scale``."""
    def side(pixels: int) -> int:
        return max(ALIGN, -(-max(1, round(pixels * scale)) // ALIGN) * ALIGN)

    return side(height), side(width)


@functools.lru_cache(maxsize=16)
def _anchors(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres (2, N) in grid cells and their strides (N,), in the head's order."""
    centres, strides = [], []
    for stride in STRIDES:
        rows, cols = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(rows) + 0.5, np.arange(cols) + 0.5, indexing="ij")
        centres.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(rows * cols, stride, np.float32))
    return np.concatenate(centres, axis=1).astype(np.float32), np.concatenate(strides)


def decode_head(raw: np.ndarray, height: int, width: int, head: HeadSpec,
                confidence: float) -> np.ndarray:
    """The body's ``[4 * reg_max + classes, N]`` for an input of ``height`` x ``width`` as
    the full model would give it, ``[4 + classes, M]`` (cx, cy, w, h in input pixels, then
    class scores), for the M anchors whose best class score reaches ``confidence``."""
    box_rows = 4 * head.reg_max
    centres, strides = _anchors(height, width)
    if raw.shape[0] != box_rows + head.num_classes or raw.shape[1] != centres.shape[1]:
        raise ValueError(f"head output {raw.shape} does not fit a {height}x{width} input")
    logits = raw[box_rows:].astype(np.float32, copy=False)
    # sigmoid(x) >= c  <=>  x >= logit(c): pick the anchors before any exp.
    floor = np.log(confidence / (1.0 - confidence)) if 0.0 < confidence < 1.0 else -np.inf
    keep = np.flatnonzero(logits.max(axis=0) >= floor)
    bins = raw[:box_rows, keep].astype(np.float32, copy=False).reshape(4, head.reg_max, -1)
    bins = np.exp(bins - bins.max(axis=1, keepdims=True))
    distances = (bins * np.arange(head.reg_max, dtype=np.float32)[None, :, None]).sum(axis=1)
    distances /= bins.sum(axis=1)
    centre, stride = centres[:, keep], strides[keep]
    near, far = centre - distances[:2], centre + distances[2:]
    boxes = np.concatenate([(near + far) / 2 * stride, (far - near) * stride])
    scores = 1.0 / (1.0 + np.exp(-logits[:, keep]))
    return np.concatenate([boxes, scores]).astype(np.float32, copy=False)


__all__ = ["ALIGN", "Body", "HeadSpec", "cut_body", "decode_head", "fit_input"]
