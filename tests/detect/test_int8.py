"""int8 copies of onnx models: made once per model + calibration set, reused, judged against
fp32 on held-out frames. A small YOLO-shaped model keeps each quantization under a second."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from support import video_frames, write_config
from support.yolo_model import make_video, make_yolo_onnx

from streamer.config import load_config
from streamer.detect.base import DetectorContext
from streamer.detect.int8 import head_nodes
from streamer.detect.onnx import OnnxModelConfig
from streamer.errors import ModelError
from streamer.source.frame import Frame


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("STREAMER_CACHE", str(folder))
    return folder


def model_config(path: Path, calibration: Path | None, **extra: object) -> OnnxModelConfig:
    return OnnxModelConfig(kind="onnx", id="tiny", path=path, precision="int8",
                           calibration=calibration, calibration_frames=24,
                           calibration_methods=["minmax"], confidence=0.5, **extra)


def int8_files(cache: Path) -> list[Path]:
    return sorted((cache / "int8").glob("*.onnx"))


def test_head_is_found_from_the_graph_not_from_names(tmp_path: Path) -> None:
    model = onnx.load(str(make_yolo_onnx(tmp_path / "m.onnx")))
    head = set(head_nodes(model))
    # decode, sigmoid, concat, the DFL softmax and its fixed conv, and the two last convs
    assert {"/head/Concat_1", "/head/Sigmoid", "/head/dfl/Softmax", "/head/dfl/Conv",
            "/box/Conv", "/cls/Conv"} <= head
    # the stem conv reading the raw image stays float; the body between is quantized
    assert {"/b0/Conv", "/b0/Sig", "/b0/Mul"} <= head
    assert not head & {"/b1/Conv", "/b2/Conv", "/b2/Mul"}


def test_deep_body_keeps_its_two_ends_float_within_the_cap(tmp_path: Path) -> None:
    model = onnx.load(str(make_yolo_onnx(tmp_path / "m.onnx", extra_body=17)))
    head = set(head_nodes(model))
    float_body = sorted(int(name[2:].split("/")[0]) for name in head
                        if name[2:3].isdigit() and name.endswith("/Conv"))
    # 20 body Convs (at most 40 % float): the 6 nearest the image and the one feeding the
    # head stay float, the 13 between are int8
    assert float_body == [0, 1, 2, 3, 4, 5, 19]
    assert {"/b19/Sig", "/b19/Mul", "/b0/Mul"} <= head


def test_second_start_reuses_the_cache(tmp_path: Path, cache: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    model, video = make_yolo_onnx(tmp_path / "m.onnx"), make_video(tmp_path / "v.avi")
    caplog.set_level(logging.INFO)
    first = model_config(model, video).build()
    assert first.precision == "int8"
    assert "making an int8 copy" in caplog.text
    made = int8_files(cache)
    assert len(made) == 1
    stamp = made[0].stat().st_mtime_ns
    caplog.clear()
    second = model_config(model, video).build()
    assert second.precision == "int8"
    assert "making an int8 copy" not in caplog.text and "from the cache" in caplog.text
    assert int8_files(cache) == made and made[0].stat().st_mtime_ns == stamp
    # the int8 session really detects, with its own threshold
    dets = second.detect(Frame(image=video_frames(video, 1)[0], index=0, t_s=0.0, wall_ts=0.0))
    assert len(dets) > 0 and dets.confidence.min() >= second.confidence


def test_changed_model_or_calibration_makes_a_new_copy(tmp_path: Path, cache: Path) -> None:
    model, video = make_yolo_onnx(tmp_path / "m.onnx"), make_video(tmp_path / "v.avi")
    model_config(model, video).build()
    assert len(int8_files(cache)) == 1
    make_yolo_onnx(model, seed=1)  # same path, new weights
    model_config(model, video).build()
    assert len(int8_files(cache)) == 2
    make_video(video, seed=2)  # same path, new frames
    model_config(model, video).build()
    assert len(int8_files(cache)) == 3
    images = tmp_path / "images"
    images.mkdir()
    for index, frame in enumerate(video_frames(video, 12)):
        cv2.imwrite(str(images / f"{index:03}.png"), frame)
    model_config(model, images).build()
    assert len(int8_files(cache)) == 4


def test_unreachable_parity_keeps_fp32_with_one_line(tmp_path: Path, cache: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    model, video = make_yolo_onnx(tmp_path / "m.onnx"), make_video(tmp_path / "v.avi")
    caplog.set_level(logging.INFO)
    detector = model_config(model, video, int8_min_recall=1.0, int8_max_count_error=0.0).build()
    assert detector.precision == "fp32" and detector.confidence == 0.5
    kept = [r for r in caplog.records if "int8 kept off" in r.getMessage()]
    assert len(kept) == 1 and kept[0].levelno == logging.WARNING
    assert "running fp32" in kept[0].getMessage() and "recall" in kept[0].getMessage()
    # the copy is cached anyway: loosening the threshold uses it without calibrating again
    caplog.clear()
    assert model_config(model, video, int8_min_recall=0.5,
                        int8_max_count_error=0.5).build().precision == "int8"
    assert "making an int8 copy" not in caplog.text


@pytest.mark.parametrize("make_source, expected", [
    (lambda tmp: tmp / "missing.mp4", "no such file or folder"),
    (lambda tmp: _write(tmp / "junk.mp4", b"not a video at all" * 100), "junk.mp4"),
    (lambda tmp: _mkdir(tmp / "empty"), "has no images"),
])
def test_broken_calibration_source_is_one_clear_error(tmp_path: Path, cache: Path,
                                                      make_source: object, expected: str) -> None:
    model = make_yolo_onnx(tmp_path / "m.onnx")
    source = make_source(tmp_path)  # type: ignore[operator]
    with pytest.raises(ModelError) as err:
        model_config(model, source).build()
    message = str(err.value)
    assert message.startswith("model 'tiny': calibration:") and expected in message
    assert "\n" not in message
    assert not int8_files(cache)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_default_calibration_is_the_camera_source(tmp_path: Path, cache: Path) -> None:
    model, video = make_yolo_onnx(tmp_path / "m.onnx"), make_video(tmp_path / "v.avi")
    path = write_config(tmp_path / "c.yaml", {
        "camera": {"id": "cam", "source": str(video)},
        "models": [{"id": "tiny", "kind": "onnx", "path": str(model), "precision": "int8",
                    "calibration_frames": 24, "calibration_methods": ["minmax"]}],
    })
    config = load_config(path)
    detector = config.models[0].build(DetectorContext(camera_source=config.camera.source))
    assert detector.int8_request().calibration == str(video)
    assert detector.precision == "int8"
    assert os.environ["STREAMER_CACHE"] == str(cache) and len(int8_files(cache)) == 1


def test_parity_is_judged_on_the_classes_the_rules_see() -> None:
    """fp32 says Normal where int8 says Fall for the same person: a miss between the model's
    own classes, the same person once class_map sends both to `person`."""
    from streamer.detect.int8 import parity

    box = np.array([[10.0, 10.0, 50.0, 120.0]])
    fp32 = [(box, np.array([0.8]), np.array([0]))]
    int8 = [(box + 1, np.array([0.7]), np.array([1]))]
    assert parity(fp32, int8, ["Normal", "Fall"])["recall"] == 0.0
    mapped = parity(fp32, int8, ["person", "person"])
    assert (mapped["recall"], mapped["count_ratio"]) == (1.0, 1.0)
    assert list(mapped["per_class"]) == ["person"]
