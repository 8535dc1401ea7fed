"""GPU providers (onnxruntime-gpu on a Jetson or an NVIDIA card). Nothing in CI depends on a
GPU: without a GPU provider in this onnxruntime build these skip, saying so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from support.yolo_model import make_yolo_onnx

from streamer.detect.onnx import OnnxModelConfig
from streamer.source.frame import Frame

AVAILABLE = ort.get_available_providers()


def need(provider: str) -> None:
    if provider not in AVAILABLE:
        pytest.skip(f"{provider} not in this onnxruntime {ort.__version__} build "
                    f"(it has {', '.join(AVAILABLE)}): install onnxruntime-gpu on a machine "
                    "with an NVIDIA GPU")


def detect_once(config: OnnxModelConfig) -> int:
    detector = config.build()
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return len(detector.detect(Frame(image=image, index=0, t_s=0.0, wall_ts=0.0)))


def test_cuda_matches_cpu(tmp_path: Path) -> None:
    need("CUDAExecutionProvider")
    model = make_yolo_onnx(tmp_path / "m.onnx")
    cpu = detect_once(OnnxModelConfig(kind="onnx", id="m", path=model))
    gpu = detect_once(OnnxModelConfig(kind="onnx", id="m", path=model,
                                      providers=["CUDAExecutionProvider"]))
    assert gpu == cpu


def test_tensorrt_keeps_its_engine_on_disk(tmp_path: Path) -> None:
    need("TensorrtExecutionProvider")
    model = make_yolo_onnx(tmp_path / "m.onnx")
    engines = tmp_path / "engines"
    config = OnnxModelConfig(kind="onnx", id="m", path=model, trt_cache_dir=engines,
                             providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"])
    detect_once(config)
    # One folder per model content, precision and TensorRT version.
    built = sorted(engines.glob("m-*-fp16-trt*/*.engine"))
    assert built, f"TensorRT built no engine file in trt_cache_dir: {sorted(engines.rglob('*'))}"
    assert "trtunknown" not in str(built[0]), "TensorRT's version was not found"
    stamps = [path.stat().st_mtime_ns for path in built]
    detect_once(config)  # a second start loads the engine instead of building it
    assert [path.stat().st_mtime_ns for path in sorted(engines.glob("*/*.engine"))] == stamps


def test_a_config_without_providers_runs_on_the_gpu(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    need("CUDAExecutionProvider")
    model = make_yolo_onnx(tmp_path / "m.onnx")
    with caplog.at_level("INFO", logger="streamer.detect.onnx"):
        detect_once(OnnxModelConfig(kind="onnx", id="m", path=model, trt_cache_dir=tmp_path / "e"))
    chosen = [r.getMessage() for r in caplog.records if "chosen automatically" in r.getMessage()]
    best = "TensorrtExecutionProvider" if "TensorrtExecutionProvider" in AVAILABLE else "CUDAExecutionProvider"
    assert chosen and f"running on {best}" in chosen[0], chosen
