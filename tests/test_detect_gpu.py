"""GPU providers (onnxruntime-gpu on a Jetson or an NVIDIA card). Nothing in CI depends on a
GPU: without a GPU provider in this onnxruntime build these skip, saying so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from streamer.detect.onnx import OnnxModelConfig
from streamer.source.frame import Frame
from yolo_model import make_yolo_onnx

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
    built = sorted(engines.glob("*.engine"))
    assert built, "TensorRT built no engine file in trt_cache_dir"
    stamps = [path.stat().st_mtime_ns for path in built]
    detect_once(config)  # a second start loads the engine instead of building it
    assert [path.stat().st_mtime_ns for path in sorted(engines.glob("*.engine"))] == stamps
