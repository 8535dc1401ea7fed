"""A float32 copy of a float16 ONNX model, made once and kept in the streamer cache.

Half-precision exports are made for GPUs. onnxruntime's CPU kernels are float32 (several
have no float16 version at all), so on a CPU such a model either fails to load or runs
through casts. The copy widens every float16 weight, constant, cast target and declared
tensor type; the arithmetic is the model's own, so the detections match.

Cache: ``<streamer cache>/fp32/<sha256 of the file>.onnx``; a changed model file gets a new
copy, and the copy is written under a temporary name and renamed, so a crash never
leaves half a model behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.cache import cache_root
from streamer.errors import ModelError

if TYPE_CHECKING:  # imported where used: reading a model is rare, importing onnx is slow
    import onnx

log = logging.getLogger("streamer.detect.fp16")


class Fp16Error(ModelError):
    """The file is not an ONNX model, or has nothing in float16 to convert."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_fp32_copy(path: Path, cache_dir: Path | None = None) -> Path:
    """Return the float32 copy of the float16 model at ``path``, converting on first use."""
    target = (cache_dir or cache_root()) / "fp32" / f"{file_digest(path)}.onnx"
    if target.is_file():
        return target
    model = _load(path)
    if not widen_to_fp32(model):
        raise Fp16Error(f"{path} has no float16 tensors")
    save_model(model, target)
    log.info("converted float16 model %s to float32: %s", path, target)
    return target


def save_model(model: onnx.ModelProto, target: Path) -> None:
    """Write an ``onnx.ModelProto`` to ``target`` whole or not at all (a temporary name,
    then a rename): a cache entry another process reads is never half written."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    try:
        onnx.save(model, temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> onnx.ModelProto:
    try:
        import onnx
    except ImportError as exc:  # a core dependency; a broken install still gets one line
        raise Fp16Error(f"float16 conversion needs the onnx package ({exc})") from None
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and friends share no useful base
        raise Fp16Error(f"{path} is not an ONNX model ({type(exc).__name__})") from None


def widen_to_fp32(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place from float16 to float32; returns how many things changed."""
    from onnx import TensorProto, numpy_helper

    f16, f32 = TensorProto.FLOAT16, TensorProto.FLOAT
    changed = 0

    def widen_tensor(tensor: onnx.TensorProto) -> bool:
        if tensor.data_type != f16:
            return False
        wide = numpy_helper.from_array(
            numpy_helper.to_array(tensor).astype("float32"), tensor.name
        )
        tensor.CopyFrom(wide)
        return True

    def widen_graph(graph: onnx.GraphProto) -> None:
        nonlocal changed
        for tensor in graph.initializer:
            changed += widen_tensor(tensor)
        for value in [*graph.input, *graph.output, *graph.value_info]:
            tensor_type = value.type.tensor_type
            if tensor_type.elem_type == f16:
                tensor_type.elem_type = f32
                changed += 1
        for node in graph.node:
            for attribute in node.attribute:
                if node.op_type == "Cast" and attribute.name == "to" and attribute.i == f16:
                    attribute.i = f32
                    changed += 1
                if attribute.HasField("t"):
                    changed += widen_tensor(attribute.t)
                if attribute.HasField("g"):
                    widen_graph(attribute.g)
                for sub in attribute.graphs:
                    widen_graph(sub)

    widen_graph(model.graph)
    return changed


__all__ = ["Fp16Error", "cached_fp32_copy", "widen_to_fp32"]
