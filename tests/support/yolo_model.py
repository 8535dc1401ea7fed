"""A small YOLO-shaped ONNX model built with the `onnx` helper API (no download, < 1 s to
quantize): a strided Conv body, then a head like YOLOv8's — box logits through a Softmax
and a fixed DFL-like 1x1 Conv, decoded to pixels, class scores through a Sigmoid, one Concat.
Output ``[1, 4 + classes, 8 * 8]`` for a 64x64 input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 64
CELLS = (SIZE // 8) ** 2
BINS = 4


def make_yolo_onnx(path: Path, seed: int = 0, classes: int = 2, extra_body: int = 0) -> Path:
    """``extra_body``: more 3x3 Convs (stride 1) after the three strided ones, a deeper body."""
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def conv(name: str, x: str, cin: int, cout: int, k: int, stride: int, act: bool) -> str:
        w = const(f"{name}.w", rng.normal(0, (2 / (cin * k * k)) ** 0.5, (cout, cin, k, k)))
        b = const(f"{name}.b", rng.normal(0, 0.3, cout))
        nodes.append(helper.make_node("Conv", [x, w, b], [f"{name}.y"], name=f"/{name}/Conv",
                                      kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4))
        if not act:
            return f"{name}.y"
        nodes.append(helper.make_node("Sigmoid", [f"{name}.y"], [f"{name}.s"], name=f"/{name}/Sig"))
        nodes.append(helper.make_node("Mul", [f"{name}.y", f"{name}.s"], [f"{name}.a"],
                                      name=f"/{name}/Mul"))
        return f"{name}.a"

    x = conv("b0", "images", 3, 16, 3, 2, True)
    x = conv("b1", x, 16, 32, 3, 2, True)
    x = conv("b2", x, 32, 32, 3, 2, True)
    for index in range(3, 3 + extra_body):
        x = conv(f"b{index}", x, 32, 32, 3, 1, True)
    box = conv("box", x, 32, 4 * BINS, 1, 1, False)       # [1, 16, 8, 8]
    cls = conv("cls", x, 32, classes, 1, 1, False)        # [1, nc, 8, 8]
    inits.append(numpy_helper.from_array(np.array([1, 4, BINS, CELLS], np.int64), "s_box"))
    inits.append(numpy_helper.from_array(np.array([1, classes, CELLS], np.int64), "s_cls"))
    inits.append(numpy_helper.from_array(np.array([1, 4, CELLS], np.int64), "s_dist"))
    # DFL: softmax over bins, a fixed 1x1 conv with weights 0..BINS-1 = expected distance
    nodes += [
        helper.make_node("Reshape", [box, "s_box"], ["box.r"], name="/head/dfl/Reshape"),
        helper.make_node("Transpose", ["box.r"], ["box.t"], name="/head/dfl/Transpose",
                         perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["box.t"], ["box.sm"], name="/head/dfl/Softmax", axis=1),
    ]
    dfl_w = const("dfl.w", np.arange(BINS, dtype=np.float32).reshape(1, BINS, 1, 1))
    nodes += [
        helper.make_node("Conv", ["box.sm", dfl_w], ["dist"], name="/head/dfl/Conv"),
        helper.make_node("Reshape", ["dist", "s_dist"], ["dist.r"], name="/head/dfl/Reshape_1"),
    ]
    # decode: anchor centres (cells) +- distances, times the stride, as cx, cy, w, h
    grid = np.stack(np.meshgrid(np.arange(8) + 0.5, np.arange(8) + 0.5), 0).reshape(1, 2, CELLS)
    anchors = const("anchors", grid)
    nodes += [
        helper.make_node("Split", ["dist.r"], ["lt", "rb"], name="/head/Split", axis=1,
                         num_outputs=2),
        helper.make_node("Sub", [anchors, "lt"], ["x1y1"], name="/head/Sub"),
        helper.make_node("Add", [anchors, "rb"], ["x2y2"], name="/head/Add"),
        helper.make_node("Add", ["x1y1", "x2y2"], ["c2"], name="/head/Add_1"),
        helper.make_node("Div", ["c2", const("two", np.array(2.0))], ["c"], name="/head/Div"),
        helper.make_node("Sub", ["x2y2", "x1y1"], ["wh"], name="/head/Sub_1"),
        helper.make_node("Concat", ["c", "wh"], ["xywh"], name="/head/Concat", axis=1),
        helper.make_node("Mul", ["xywh", const("stride", np.array(8.0))], ["xywh.px"],
                         name="/head/Mul"),
        helper.make_node("Reshape", [cls, "s_cls"], ["cls.r"], name="/head/Reshape"),
        helper.make_node("Sigmoid", ["cls.r"], ["scores"], name="/head/Sigmoid"),
        helper.make_node("Concat", ["xywh.px", "scores"], ["output0"], name="/head/Concat_1",
                         axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + classes, CELLS])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    names = {index: f"c{index}" for index in range(classes)}
    helper.set_model_props(model, {"names": repr(names)})
    onnx.save(model, str(path))
    return path


def make_video(path: Path, frames: int = 40, seed: int = 0, size: tuple[int, int] = (96, 72)) -> Path:
    """A short MJPG video of moving blobs (real pixels for calibration to see)."""
    import cv2

    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    background = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    for index in range(frames):
        image = background.copy()
        for blob in range(4):
            x = int((index * (3 + blob) + blob * 20) % size[0])
            cv2.circle(image, (x, 15 + blob * 15), 8, (50 * blob, 255 - 40 * blob, 120), -1)
        writer.write(image)
    writer.release()
    return path


def make_constant_onnx(path: Path, rows: list[tuple[float, float, float, float, float]],
                       size: int = SIZE) -> Path:
    """A YOLO-shaped model (one class, ``person``) that answers ``rows`` of (cx, cy, w, h,
    score) in input pixels for every picture: a model gone wrong (NaN, inf, negative
    sizes) on cue. The output depends on the input only through ``0 * mean(images)``."""
    table = np.asarray(rows, dtype=np.float32).T.reshape(1, 5, len(rows))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "constant-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, len(rows)])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    helper.set_model_props(model, {"names": repr({0: "person"})})
    onnx.save(model, str(path))
    return path
