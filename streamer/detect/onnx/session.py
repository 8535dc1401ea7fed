"""onnxruntime sessions for one model: which providers, which options, and the one-line
errors every load step raises.

Kept apart from the detector because the int8 copy, the float32 copy and the model itself
each open a session the same way: the same providers (checked once against this
onnxruntime build), the same threads and graph optimisation, and TensorRT's engine cache.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import onnxruntime as ort

from streamer.cache import cache_root
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

GraphOptimization = Literal["disable", "basic", "extended", "all"]
GRAPH_OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def fail(model_id: str, message: str) -> ModelError:
    """The error a load step raises: one line that names the model."""
    return ModelError(f"model {model_id!r}: {message}")


def short_ort_reason(err: Exception) -> str:
    """onnxruntime's messages repeat the path and an error code; keep the part a user needs."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", text)
    text = re.sub(r"^Load model from .* failed:\s*", "", text)
    return text[:200] or type(err).__name__


def choose_providers(model_id: str, configured: Sequence[str] | None) -> list[str]:
    """The configured providers, checked against this onnxruntime build, or the best it
    offers where the config names none.

    onnxruntime itself only warns and falls back to the CPU when a provider is
    missing, so a Jetson config run on a CPU-only wheel would be slow in silence.
    """
    available = ort.get_available_providers()
    if configured is None:
        return auto_providers(available)
    missing = missing_providers(configured, available)
    if missing:
        raise fail(
            model_id,
            f"providers: {', '.join(missing)} not in this onnxruntime "
            f"{ort.__version__} build (it has {', '.join(available)}); install "
            "onnxruntime-gpu (CUDA/TensorRT) or list CPUExecutionProvider",
        )
    return with_cpu_fallback(configured)


@dataclass(frozen=True)
class SessionSpec:
    """How every session of one model is opened (the config's onnxruntime keys)."""

    graph_optimization: GraphOptimization
    inter_op_threads: int
    threads: int | None
    trt_fp16: bool
    int8: bool
    trt_cache_dir: Path | None
    spin_wait: bool = True

    def options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.graph_optimization_level = GRAPH_OPTIMIZATION[self.graph_optimization]
        # One frame at a time: parallelism inside operators, by default none between them.
        parallel = self.inter_op_threads > 1
        options.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL if parallel else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        options.inter_op_num_threads = self.inter_op_threads
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        if not self.spin_wait:
            # Idle threads sleep instead of spinning: two calls at once (a box's inference
            # workers), or a busy neighbour, then share the cores instead of burning them.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    def open(self, path: Path, providers: list[str]) -> ort.InferenceSession:
        """A session on ``path``; TensorRT gets its engine cache on disk (building an engine
        takes minutes on a Jetson: once per model, precision and TensorRT version, not per
        start)."""
        configured: list[str | tuple[str, dict[str, str]]] = list(providers)
        if TENSORRT in providers:
            engines = engine_dir(self.trt_cache_dir or cache_root() / "trt", path,
                                 precision_label(self.trt_fp16, self.int8), tensorrt_version())
            configured[providers.index(TENSORRT)] = (
                TENSORRT, tensorrt_options(engines, fp16=self.trt_fp16, int8=self.int8))
        return ort.InferenceSession(str(path), sess_options=self.options(), providers=configured)
