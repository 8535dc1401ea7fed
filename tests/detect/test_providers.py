"""Providers chosen where the config names none, and the TensorRT engine cache's folder key.

What TensorRT itself does with the folder needs a GPU (tests/detect/test_onnx_gpu.py); which
folder a model gets, and what this CPU-only machine runs on, are checked here."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.yolo_model import make_yolo_onnx

from streamer.config import parse_config
from streamer.detect.onnx import OnnxModelConfig
from streamer.detect.providers import (
    _decode_nvinfer_version,
    auto_providers,
    engine_dir,
    precision_label,
)

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


@pytest.mark.parametrize(("available", "chosen"), [
    ([CPU], [CPU]),
    (["AzureExecutionProvider", CPU], [CPU]),  # PyPI's CPU wheel
    ([CUDA, CPU], [CUDA, CPU]),
    ([TRT, CUDA, CPU], [TRT, CUDA, CPU]),  # onnxruntime-gpu, listed in its own order
    ([CPU, CUDA, TRT], [TRT, CUDA, CPU]),
    (["OpenVINOExecutionProvider", CPU], [CPU]),  # chosen only when a config names it
    ([], [CPU]),
])
def test_best_provider_first_and_the_cpu_always(available: list[str], chosen: list[str]) -> None:
    assert auto_providers(available) == chosen


def test_a_model_without_providers_runs_on_what_this_build_offers_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        f"camera: {{id: cam, source: clip.mp4}}\n"
        f"models: [{{id: people, kind: onnx, path: {make_yolo_onnx(tmp_path / 'm.onnx')}}}]\n",
        source_name="site.yaml",
    )
    model = config.models[0]
    assert isinstance(model, OnnxModelConfig) and model.providers is None
    with caplog.at_level(logging.INFO, logger="streamer.detect.onnx"):
        model.build()
    lines = [r.getMessage() for r in caplog.records if "providers chosen automatically" in r.getMessage()]
    assert len(lines) == 1
    # This machine has no GPU provider: the line names the CPU and nothing better.
    assert lines[0].endswith(f"running on {CPU}"), lines[0]


def test_engines_are_kept_apart_by_model_content_precision_and_tensorrt_version(tmp_path: Path) -> None:
    root = tmp_path / "trt"
    model = make_yolo_onnx(tmp_path / "person.onnx", seed=0)
    (tmp_path / "other").mkdir()
    other = make_yolo_onnx(tmp_path / "other" / "person.onnx", seed=1)
    same_bytes = tmp_path / "copy" / "person.onnx"
    same_bytes.parent.mkdir()
    same_bytes.write_bytes(model.read_bytes())

    here = engine_dir(root, model, "fp16", "10.3.0")
    assert here.parent == root
    assert here.name.startswith("person-") and here.name.endswith("-fp16-trt10.3.0")
    assert engine_dir(root, model, "fp16", "10.3.0") == here  # a restart finds its engines
    assert engine_dir(root, same_bytes, "fp16", "10.3.0") == here  # content, not path
    assert engine_dir(root, other, "fp16", "10.3.0") != here  # a retrained model
    assert engine_dir(root, model, "fp32", "10.3.0") != here
    assert engine_dir(root, model, "int8", "10.3.0") != here
    assert engine_dir(root, model, "fp16", "8.6.2") != here  # a JetPack upgrade
    assert engine_dir(root, model, "fp16", None).name.endswith("-trtunknown")


@pytest.mark.parametrize(("fp16", "int8", "label"), [
    (False, False, "fp32"), (True, False, "fp16"), (True, True, "int8"), (False, True, "int8"),
])
def test_precision_label(fp16: bool, int8: bool, label: str) -> None:
    assert precision_label(fp16, int8) == label


@pytest.mark.parametrize(("number", "version"), [
    (100300, "10.3.0"),  # JetPack 6.1/6.2
    (100701, "10.7.1"),
    (8602, "8.6.2"),  # JetPack 6.0
    (8502, "8.5.2"),  # JetPack 5.1
])
def test_tensorrt_library_version_numbers(number: int, version: str) -> None:
    assert _decode_nvinfer_version(number) == version
