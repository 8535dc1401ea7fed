"""Which onnxruntime execution providers a model runs on, and where TensorRT keeps its engines.

A config that names no ``providers`` gets the best this onnxruntime build offers: TensorRT,
then CUDA, then the CPU (the same config then runs on an x86 box and on a Jetson). TensorRT
engines take minutes to build on a Jetson, so they are kept on disk in a folder keyed by
everything that makes an engine invalid: the model's bytes, the precision it was built for
and the TensorRT version that built it (a JetPack upgrade must not load stale engines).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
# The order a config without `providers` gets, best first; only these three are chosen
# automatically (OpenVINO, CoreML, DirectML are there when a config names them).
AUTO_ORDER = (TENSORRT, CUDA, CPU)

# Shared libraries that report TensorRT's version, newest major first.
_NVINFER_LIBRARIES = ("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so")


def auto_providers(available: Sequence[str]) -> list[str]:
    """TensorRT, then CUDA, then the CPU: those of them in ``available`` (the CPU always,
    as onnxruntime's fallback for operators a GPU provider lacks)."""
    return [name for name in AUTO_ORDER if name in available or name == CPU]


def missing_providers(wanted: Sequence[str], available: Sequence[str]) -> list[str]:
    """The configured providers this onnxruntime build lacks (onnxruntime itself only warns
    and runs on the CPU, so a Jetson config on a CPU-only wheel would be slow in silence)."""
    return [name for name in wanted if name not in available]


def with_cpu_fallback(providers: Sequence[str]) -> list[str]:
    """``providers`` with the CPU appended when absent, for operators the others lack."""
    chosen = list(providers)
    return chosen if CPU in chosen else [*chosen, CPU]


def _decode_nvinfer_version(number: int) -> str:
    """``getInferLibVersion()``'s integer as "major.minor.patch": TensorRT 10 packs it as
    major*10000 + minor*100 + patch, TensorRT 8 as major*1000 + minor*100 + patch."""
    if number >= 100_000:
        return f"{number // 10_000}.{number // 100 % 100}.{number % 100}"
    return f"{number // 1000}.{number // 100 % 10}.{number % 100}"


@functools.cache
def tensorrt_version() -> str | None:
    """The TensorRT library's version on this machine, or None where there is none.

    Read from the ``tensorrt`` Python module where installed (JetPack images have it), else
    from ``libnvinfer`` itself, which onnxruntime's TensorRT provider loads."""
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except Exception:  # absent, or present without its libraries
        pass
    for name in _NVINFER_LIBRARIES:
        try:
            library = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            return _decode_nvinfer_version(int(library.getInferLibVersion()))
        except (AttributeError, ValueError):
            continue
    return None


@functools.cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_digest(path: Path) -> str:
    """sha256 of the model file's bytes (remembered per path, size and mtime)."""
    stat = os.stat(path)
    return _file_digest(str(path), stat.st_size, stat.st_mtime_ns)


def engine_dir(root: Path, model: Path, precision: str, trt_version: str | None) -> Path:
    """The folder for ``model``'s TensorRT engines under ``root``, one per model content,
    precision ("fp32", "fp16", "int8") and TensorRT version, named so a person can tell
    them apart: ``person-3fa9c1d2e4b5a6f7-fp16-trt10.3.0``."""
    version = trt_version or "unknown"
    return root / f"{model.stem}-{model_digest(model)[:16]}-{precision}-trt{version}"


def tensorrt_options(engines: Path, fp16: bool, int8: bool) -> dict[str, str]:
    """onnxruntime's TensorRT provider options: engines and timing cache kept in
    ``engines`` (created here), fp16/int8 as asked."""
    engines.mkdir(parents=True, exist_ok=True)
    return {
        "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(engines),
        "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(engines),
        "trt_fp16_enable": str(fp16),
        # an int8 (QDQ) model carries its own scales: TensorRT reads them
        "trt_int8_enable": str(int8),
    }


def precision_label(fp16: bool, int8: bool) -> str:
    """The engine-cache key's precision part: what TensorRT was allowed to build."""
    return "int8" if int8 else "fp16" if fp16 else "fp32"


__all__ = [
    "AUTO_ORDER", "CPU", "CUDA", "TENSORRT", "auto_providers", "engine_dir", "missing_providers",
    "model_digest", "precision_label", "tensorrt_options", "tensorrt_version", "with_cpu_fallback",
]
