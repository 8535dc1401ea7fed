"""Opening the model file, through its cached float32 copy where that runs faster.

CPU kernels are mostly float32: a float16 model on a CPU-only session is converted once
(cached under the streamer cache) and whichever of the two runs faster here is timed once
and remembered beside the copy. Kept apart from the session's options and from the model's
checks because it is the one step that writes to disk and times sessions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from streamer.detect.int8 import time_sessions
from streamer.detect.onnx.session import SessionSpec, choose_providers, fail, short_ort_reason

log = logging.getLogger("streamer.detect.onnx")

CPU_ONLY = ["CPUExecutionProvider"]


@dataclass(frozen=True)
class OpenedModel:
    """A loaded model: its session, the float32 file int8 copies are made from, and the
    providers every later session of it uses."""

    session: ort.InferenceSession
    float_path: Path
    providers: list[str]


def open_model(
    model_id: str,
    path: Path,
    spec: SessionSpec,
    configured_providers: Sequence[str] | None,
    fp32_cache: bool,
) -> OpenedModel:
    """The session for ``path``; raises ``ModelError`` naming the model when the file is
    missing or onnxruntime cannot load it (nor its float32 copy)."""
    if not path.exists():
        raise fail(model_id, f"no such file: {path}")
    if not path.is_file():
        raise fail(model_id, f"{path} is not a file")
    providers = choose_providers(model_id, configured_providers)
    session: ort.InferenceSession | None
    try:
        session = spec.open(path, providers)
    except Exception as err:  # onnxruntime raises its own pybind types, not one base
        fp16_error: Exception | None = err
        session = None
    else:
        fp16_error = None
    if fp32_cache and providers == CPU_ONLY:
        fp32_path = _fp32_copy(model_id, path, session, fp16_error)
        if fp32_path is not None:
            if spec.int8:  # int8 is made from the float32 copy
                return OpenedModel(spec.open(fp32_path, providers), fp32_path, providers)
            chosen = _pick_faster(model_id, path, session, fp32_path, spec, providers)
            return OpenedModel(chosen, fp32_path, providers)
    if session is None:
        assert fp16_error is not None
        raise fail(
            model_id, f"{path} is not a loadable ONNX model: {short_ort_reason(fp16_error)}"
        ) from fp16_error
    return OpenedModel(session, path, providers)


def _fp32_copy(
    model_id: str, path: Path, session: ort.InferenceSession | None, error: Exception | None
) -> Path | None:
    """Path of the cached float32 copy of a float16 model, made on first use; None
    when the model is not float16 (or cannot be read as ONNX)."""
    if session is not None and not any(
        spec.type == "tensor(float16)" for spec in session.get_inputs()
    ):
        return None
    from streamer.detect.fp16 import Fp16Error, cached_fp32_copy

    try:
        return cached_fp32_copy(path)
    except Fp16Error as exc:
        if session is None:
            raise fail(
                model_id,
                f"{path} is not a loadable ONNX model: {short_ort_reason(error or exc)}",
            ) from None
        log.warning("model %r: float32 conversion skipped: %s", model_id, exc)
        return None


def _pick_faster(
    model_id: str,
    path: Path,
    fp16: ort.InferenceSession | None,
    fp32_path: Path,
    spec: SessionSpec,
    providers: list[str],
) -> ort.InferenceSession:
    """Keep whichever of the float16 model and its float32 copy runs faster here
    (CPU kernels are mostly float32: the float16 graph is full of casts, or lacks kernels)."""
    try:
        fp32 = spec.open(fp32_path, providers)
    except Exception as err:
        if fp16 is None:
            raise fail(
                model_id,
                f"{path}: neither it nor its float32 copy loads: {short_ort_reason(err)}",
            ) from err
        return fp16
    if fp16 is None:
        log.info("model %r: float16 does not load on the CPU; running %s", model_id, fp32_path)
        return fp32
    return fp32 if _fp32_is_faster(model_id, fp16, fp32, fp32_path) else fp16


def _fp32_is_faster(
    model_id: str, fp16: ort.InferenceSession, fp32: ort.InferenceSession, fp32_path: Path
) -> bool:
    """Timed once per model file and remembered: on a shared machine two timings at
    each start would flip the choice from run to run."""
    choice_path = fp32_path.with_suffix(".choice.json")
    try:
        return bool(json.loads(choice_path.read_text())["use_fp32"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    fp16_s, fp32_s = time_sessions(fp16, fp32)
    use_fp32 = fp32_s < fp16_s
    log.info("model %r: float16 %.0f ms, float32 copy %.0f ms per inference; using %s",
             model_id, fp16_s * 1000, fp32_s * 1000, "float32" if use_fp32 else "float16")
    try:
        choice_path.write_text(json.dumps(
            {"use_fp32": use_fp32, "fp16_ms": round(fp16_s * 1000, 1),
             "fp32_ms": round(fp32_s * 1000, 1)}
        ))
    except OSError as exc:
        log.warning("model %r: cannot remember the float16/32 choice: %s", model_id, exc)
    return use_fp32
