"""What an ONNX file must be to run here, and its class names.

The contract: one image input ``[1, 3, H, W]`` (float or float16) and an output
``[1, 4 + classes, N]``. Class names come from the config's ``names``, its ``names_file``
or the file's own metadata (what Ultralytics exports write). Kept apart from the session
and the decoding so that ``validate`` can read the names without starting a session, and
a wrong file is refused at load with a line that says what is wrong.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from streamer.detect.onnx.session import fail, short_ort_reason
from streamer.schema.bases import ModelFacts

if TYPE_CHECKING:  # imported where used: only validate reads a file without a session
    import onnx

log = logging.getLogger("streamer.detect.onnx")

DEFAULT_INPUT_SIZE = 640


def check_input(
    model_id: str, session: ort.InferenceSession, input_size: int | None
) -> tuple[str, tuple[int, int], type[np.floating]]:
    """The input's name, ``(height, width)`` (``input_size`` where the model's is
    dynamic) and dtype."""
    inputs = session.get_inputs()
    expected = "expected one input [1, 3, H, W]"
    if len(inputs) != 1:
        got = ", ".join(f"{i.name} {list(i.shape)}" for i in inputs)
        raise fail(model_id, f"{expected}, got {len(inputs)} inputs ({got})")
    spec = inputs[0]
    shape = list(spec.shape)
    if len(shape) != 4 or not dim_is(shape[0], 1) or not dim_is(shape[1], 3):
        raise fail(model_id, f"{expected}, got input {shape}")
    size = input_size or DEFAULT_INPUT_SIZE
    height = shape[2] if isinstance(shape[2], int) and shape[2] > 0 else size
    width = shape[3] if isinstance(shape[3], int) and shape[3] > 0 else size
    dtype: type[np.floating]
    if spec.type == "tensor(float16)":
        dtype = np.float16
    elif spec.type == "tensor(float)":
        dtype = np.float32
    else:
        raise fail(model_id, f"expected a float or float16 input, got {spec.type}")
    return spec.name, (int(height), int(width)), dtype


def check_output(
    model_id: str,
    session: ort.InferenceSession,
    input_name: str,
    input_size: tuple[int, int],
    dtype: type[np.floating],
) -> tuple[str, int]:
    """The output's name and class count: the declared shape, then the real one from a
    test inference.

    Dynamic exports declare symbolic dimensions, so only running the graph proves the
    layout; the run also warms the session so the first frame is not the slow one.
    """
    outputs = session.get_outputs()
    expected = "expected output [1, 4+classes, N]"
    if len(outputs) < 1:
        raise fail(model_id, f"{expected}, got no outputs")
    spec = outputs[0]
    declared = list(spec.shape)
    if len(declared) != 3 or not dim_is(declared[0], 1) or (
        isinstance(declared[1], int) and declared[1] < 5
    ):
        raise fail(model_id, f"{expected}, got output {declared}")
    height, width = input_size
    probe = np.full((1, 3, height, width), 0.5, dtype=dtype)
    try:
        result = session.run([spec.name], {input_name: probe})[0]
    except Exception as err:
        raise fail(
            model_id,
            f"test inference on a [1, 3, {height}, {width}] input failed: "
            f"{short_ort_reason(err)}",
        ) from err
    shape = list(np.shape(result))
    if len(shape) != 3 or shape[0] != 1 or shape[1] < 5:
        raise fail(model_id, f"{expected}, got output {shape}")
    if shape[1] == anchor_count(height, width) != shape[2]:
        # [1, N, 4+classes] (transposed) exports would decode into garbage silently.
        raise fail(
            model_id,
            f"{expected}, got output {shape} (looks transposed: re-export with "
            "Ultralytics' default layout)",
        )
    return spec.name, shape[1] - 4


def resolve_names(
    model_id: str,
    session: ort.InferenceSession,
    names: list[str] | None,
    names_file: Path | None,
    num_classes: int,
) -> list[str]:
    """The name of each output class index: ``names``, then ``names_file``, then the
    file's metadata, else ``class_<i>``; a count that differs from the outputs is an error."""
    source: str
    if names is not None:
        found: list[str] | None = list(names)
        source = "`names`"
    elif names_file is not None:
        try:
            found = read_names_file(Path(names_file))
        except OSError as err:
            raise fail(
                model_id, f"cannot read names_file {names_file}: {err.strerror or err}"
            ) from err
        source = str(names_file)
    else:
        found, source = _metadata_names(model_id, session), "the model's metadata"
        if found is None:
            return [f"class_{index}" for index in range(num_classes)]
    assert found is not None
    if len(found) != num_classes:
        raise fail(
            model_id,
            f"{source} gives {len(found)} class names but the model outputs "
            f"{num_classes} classes",
        )
    return found


def _metadata_names(model_id: str, session: ort.InferenceSession) -> list[str] | None:
    raw = session.get_modelmeta().custom_metadata_map.get("names")
    names = parse_names_metadata(raw)
    if raw and names is None:
        log.warning("model %r: unreadable `names` metadata %.80r; using class_<i>",
                    model_id, raw)
    return names


def inspect_file(path: Path, names: list[str] | None, names_file: Path | None) -> ModelFacts:
    """Class names from ``names``, ``names_file`` or the file's own metadata, read
    without starting a session (~50 ms for a YOLOv8s), and what is wrong with them."""
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
    if names is not None:
        given = ("names", list(names))
    elif names_file is not None:
        try:
            given = ("names_file", read_names_file(Path(names_file)))
        except OSError as exc:
            return ModelFacts(problems=((("names_file",), f"cannot read {names_file}: "
                                         f"{exc.strerror or exc}"),))
    if given is not None:
        key, listed = given
        if indexed is not None and len(listed) != len(indexed):
            return ModelFacts(problems=(((key,), f"gives {len(listed)} class names but the "
                                         f"model outputs {len(indexed)} classes"),))
        return ModelFacts(tuple(listed))
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    found = parse_names_metadata(metadata.get("names")) or indexed
    return ModelFacts(tuple(found) if found is not None else None)


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


def _indexed_names(proto: onnx.ModelProto) -> list[str] | None:
    """``class_<i>`` for a model without names metadata, as the detector names them,
    when the output's class count is written in the graph ([1, 4+classes, N])."""
    try:
        dims = proto.graph.output[0].type.tensor_type.shape.dim
        channels = int(dims[1].dim_value) if len(dims) == 3 else 0
        if 0 < int(dims[2].dim_value) < channels:
            return None  # transposed: the detector refuses it at load
    except (AttributeError, IndexError, ValueError):
        return None
    return [f"class_{index}" for index in range(channels - 4)] if channels > 4 else None


def anchor_count(height: int, width: int) -> int:
    """Anchors of a YOLOv8/YOLO11 head: one per cell of its stride 8, 16 and 32 grids."""
    return sum((height // stride) * (width // stride) for stride in (8, 16, 32))


def dim_is(dim: object, value: int) -> bool:
    """A declared dimension matches when equal or symbolic (decided at run time)."""
    return not isinstance(dim, int) or dim == value or dim <= 0
