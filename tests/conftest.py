"""Shared test helpers: synthetic videos, replay files and configs written to tmp dirs.

Everything here is real: files on disk, the real CLI in a subprocess, real servers on
127.0.0.1. Nothing of ours is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def make_video(path: Path, frames: int = 60, fps: float = 10.0, size: tuple[int, int] = (640, 360)) -> Path:
    """A small real MP4: a grey gradient with the frame number drawn on it."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    base = np.tile(np.linspace(40, 200, width, dtype=np.uint8), (height, 1))
    for index in range(frames):
        image = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR)
        cv2.putText(image, str(index), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 255), 2)
        writer.write(image)
    writer.release()
    return path


def write_replay(path: Path, rows: dict[int, list[dict[str, Any]]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for frame in sorted(rows):
            handle.write(json.dumps({"frame": frame, "detections": rows[frame]}) + "\n")
    return path


def box(cls: str, x1: float, y1: float, x2: float, y2: float, confidence: float = 0.9) -> dict[str, Any]:
    return {"class": cls, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "confidence": confidence}


def walker(frames: Sequence[int], x_start: float, x_step: float, y1: float = 150, height: float = 110,
           width: float = 40, cls: str = "person") -> dict[int, list[dict[str, Any]]]:
    """One object moving right by ``x_step`` px per frame over ``frames``."""
    return {f: [box(cls, x_start + i * x_step, y1, x_start + i * x_step + width, y1 + height)]
            for i, f in enumerate(frames)}


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real ``streamer`` CLI in a subprocess (``python -m streamer``)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """640x360, 10 fps, 60 frames: frame time = index / 10."""
    return make_video(tmp_path / "clip.mp4")


def best_iou(boxes: np.ndarray, target: Sequence[float]) -> float:
    """Highest IoU of any of ``boxes`` (xyxy) with ``target``; 0 when there are none."""
    import supervision as sv

    if len(boxes) == 0:
        return 0.0
    return float(sv.box_iou_batch(np.asarray(boxes, dtype=float), np.asarray([target], dtype=float)).max())


# RTSP test clips (made once per module with Debian's ffmpeg; see rtsp_helpers.py).
@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtsp_helpers import make_clip

    return make_clip(tmp_path_factory.mktemp("rtsp") / "moving.h264")


@pytest.fixture(scope="module")
def frozen_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtsp_helpers import make_clip

    return make_clip(tmp_path_factory.mktemp("rtsp") / "frozen.h264", frozen=True)
