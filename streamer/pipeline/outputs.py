"""The run's files besides events: the annotated video and the recorded detections."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import cv2

from streamer.errors import StreamerError


def open_video(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """``--save-video``: an mp4 at the rate the frame loop sees frames."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StreamerError(f"--save-video: cannot write {path}: {exc}") from None
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise StreamerError(f"--save-video: cannot write a video to {path}")
    return writer


def open_text(path: Path) -> IO[str]:
    """``--record-detections``: a replay JSONL file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise StreamerError(f"--record-detections: cannot write {path}: {exc}") from None
