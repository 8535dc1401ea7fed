"""Which nodes of a detector stay float in its int8 copy, read from the graph.

The head must stay float: its output concatenates pixel boxes with 0..1 scores, which
cannot share one int8 scale. The head is found from the graph (walk back from the outputs
through every non-Conv op; the Convs met are kept float too, and a Conv fed by a Softmax,
YOLO's DFL, is walked through), not from one model's node names. The body's two ends stay
float too (``float_ends``). Choosing more float layers by measured sensitivity (each body
block kept float in turn from one set of cached ranges, the ones that lower the class-score
error most per FLOP kept) was measured and not kept: one block kept float changes the error
by -13 % to +67 %, the ranking differs between a busy and a sparse clip, and the parity
verdict did not improve on either before int8 fell under 1.3x fp32's speed (docs/int8.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# Walking back from the outputs passes through a Conv fed by one of these (YOLO's DFL
# integrates a softmax over distance bins with a fixed 1x1 conv: post-processing, not features).
PASS_THROUGH_CONV_INPUTS = {"Softmax"}
INPUT_FLOAT_DEPTH = 6  # Convs from the image kept float (YOLOv8: stem, model.1, model.2)
HEAD_FLOAT_DEPTH = 1  # Convs before each head input kept float (YOLOv8: each last C2f's cv2)
MAX_FLOAT_SHARE = 0.4  # of the body's Convs, at most, kept float by float_ends

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

