"""`streamer optimize CONFIG`: the parity report, the fp32 fallback and its override, and a
broken calibration source, through the real CLI (a small YOLO-shaped model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import run_cli, write_config
from support.yolo_model import make_video, make_yolo_onnx

pytestmark = pytest.mark.integration


def config_file(tmp_path: Path, **model: Any) -> Path:
    video = make_video(tmp_path / "v.avi")
    onnx_path = make_yolo_onnx(tmp_path / "m.onnx")
    return write_config(tmp_path / "c.yaml", {
        "camera": {"id": "cam", "source": str(video)},
        "models": [{"id": "tiny", "kind": "onnx", "path": str(onnx_path), "precision": "int8",
                    "confidence": 0.5, "calibration_frames": 24,
                    "calibration_methods": ["minmax", "percentile"], **model}],
    })


def test_optimize_prints_parity_and_keeps_fp32_below_thresholds(tmp_path: Path) -> None:
    env = {"STREAMER_CACHE": str(tmp_path / "cache")}
    path = config_file(tmp_path, int8_min_recall=1.0, int8_max_count_error=0.0)
    result = run_cli("optimize", str(path), env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for column in ("recall", "prec.", "count", "IoU", "c0", "speed: fp32", "tried minmax",
                   "tried percentile", "(not judged)"):
        assert column in out
    assert "model 'tiny': keeping fp32: " in out and "--force" in out
    assert "int8 calibration 1/2" in result.stderr  # progress while it works
    assert "Traceback" not in result.stderr

    forced = run_cli("optimize", str(path), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert "int8 forced (below thresholds" in forced.stdout
    assert "int8 calibration" not in forced.stderr  # the cached copy is reused
    reports = list((tmp_path / "cache" / "int8").glob("*.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text())["forced"] is True


def test_broken_calibration_source_exits_1_with_one_line(tmp_path: Path) -> None:
    path = config_file(tmp_path, calibration=str(tmp_path / "nowhere.mp4"))
    result = run_cli("optimize", str(path), env={"STREAMER_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: model 'tiny': calibration: no such file or folder: "
                      f"{tmp_path / 'nowhere.mp4'}"]
    assert "Traceback" not in result.stderr
