"""``streamer replay``: the rules over recorded detections, as fast as the CPU allows.

How a user tunes ``min_frames``, ``for_s`` and zones without re-running a model: the
same pipeline as ``streamer run`` (``build_pipeline``), with a replay source for the
camera and the recording for the models. Frame time is
``frame / fps``; wall time (read only by schedules) is ``start + frame time``, so a fixed
``--start-time`` gives the same events on every run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.config.models import Config, ReplayModelConfig
from streamer.detect.replay import read_replay_file
from streamer.errors import SourceError, StreamerError
from streamer.pipeline import RunOptions, build_pipeline
from streamer.rules import RuleEvent
from streamer.source.frame import Frame


@dataclass(frozen=True)
class ReplayedEvent:
    """One event the rules fired, with the frame it fired on."""

    frame: int
    wall_ts: float
    event: RuleEvent


def probe_video(path: Path) -> tuple[int, int, float] | None:
    """(width, height, fps) of a readable video file, else None."""
    if not Path(path).is_file():
        return None
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return None
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    if width <= 0 or height <= 0:
        return None
    return width, height, fps


def frame_geometry(
    config: Config,
    video: Path | None,
    size: tuple[int, int] | None,
    fps: float | None,
) -> tuple[int, int, float]:
    """Frame size and fps: flags first, then the video, then the config's camera file."""
    probed = None
    if video is not None:
        probed = probe_video(video)
        if probed is None:
            raise StreamerError(f"--video: cannot read a video from {video}")
    elif isinstance(config.camera.source, str):
        probed = probe_video(Path(config.camera.source))
    width, height = size if size else (probed[:2] if probed else (0, 0))
    if not width:
        raise StreamerError(
            "replay needs the frame size: pass --size WxH or --video FILE "
            f"(the camera source {config.camera.source!r} is not a readable file)"
        )
    rate = fps or (probed[2] if probed and probed[2] > 0 else None) or config.camera.fps
    if not rate:
        raise StreamerError("replay needs the frame rate: pass --fps N or --video FILE")
    return int(width), int(height), float(rate)


class ReplaySource:
    """Recorded frames 0..last at frame time ``index / fps``: the fast clock.

    The frame loop reads it like a camera; it never waits, so the rules run as fast as
    the CPU allows. Pictures come from ``video`` when given (for snapshots), else one
    black frame of the size.
    """

    name = "replay"

    def __init__(self, last_index: int, width: int, height: int, fps: float,
                 start_wall_ts: float, video: Path | None = None) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.frame_count = last_index + 1
        self.ready = threading.Event()
        self._start_wall_ts = start_wall_ts
        self._video_path = video
        self._video: cv2.VideoCapture | None = None
        self._blank = np.zeros((height, width, 3), dtype=np.uint8)
        self._next = 0

    @property
    def dropped_total(self) -> int:
        return 0

    def start(self) -> None:
        if self._video_path is not None:
            self._video = cv2.VideoCapture(str(self._video_path))
        self.ready.set()

    def read(self, timeout: float = 0.5) -> Frame | None:
        index = self._next
        if index >= self.frame_count:
            raise EOFError
        self._next += 1
        t_s = index / self.fps
        return Frame(self._picture(), index, t_s, self._start_wall_ts + t_s)

    def _picture(self) -> np.ndarray:
        if self._video is None:
            return self._blank
        ok, image = self._video.read()
        if not ok:
            self._video.release()
            self._video = None
            return self._blank
        if image.shape[1] != self.width or image.shape[0] != self.height:
            image = cv2.resize(image, (self.width, self.height))
        return image

    def join(self, timeout: float = 5.0) -> bool:
        if self._video is not None:
            self._video.release()
            self._video = None
        return True

    def health(self) -> dict[str, Any]:
        ended = self._next >= self.frame_count
        return {
            "source": self.name, "state": "ended" if ended else "live", "fps": 0.0,
            "frames_read_total": self._next, "frames_dropped_total": 0, "frames_skipped_total": 0,
            "reconnects_total": 0, "last_frame_age_s": None, "last_error": "",
            "reconnect_attempts": 0, "next_attempt_wall_ts": None, "next_attempt_in_s": None,
            "away_s": None, "reconnect_max_s": None,
        }

    def health_changes(self) -> list[Any]:
        return []

    def set_view(self, state: Any, reason: str = "", figures: Any = None) -> None:
        """Recorded frames are never judged against a reference view."""

    def no_frame_error(self, waited_s: float) -> SourceError:  # pragma: no cover - always ready
        return SourceError(f"replay: no frame after {waited_s:.0f} s")


@dataclass(frozen=True)
class ReplayResult:
    """What a replay fired, what it delivered (with --send) and how long the rules took."""

    events: list[ReplayedEvent]
    delivered: dict[str, int]
    elapsed_s: float


def run_replay(
    config: Config,
    detections: Path,
    width: int,
    height: int,
    fps: float,
    start_wall_ts: float,
    *,
    send: bool = False,
    video: Path | None = None,
    drain_s: float = 30.0,
    report: Callable[[str], None] | None = None,
) -> ReplayResult:
    """Every frame from 0 to the file's last through the same pipeline as ``run``.

    The config's models are replaced by the recording; with ``send`` the events go
    through the outbox to the sinks (snapshots from ``video`` frames), else nowhere.
    """
    frames = read_replay_file(detections, f"--detections {detections}")
    source = ReplaySource(max(frames) if frames else -1, width, height, fps, start_wall_ts,
                          video if send else None)
    recording = ReplayModelConfig(kind="replay", id="replay", path=detections, confidence=0.0)
    fired: list[ReplayedEvent] = []

    def keep(frame: Frame, events: list[RuleEvent], _seconds: float) -> None:
        fired.extend(ReplayedEvent(frame.index, frame.wall_ts, event) for event in events)

    options = RunOptions(
        drain_s=drain_s, progress_s=float("inf"), on_step=keep, deliver=send, monitor=False,
        event_queue=0,
    )
    pipeline = build_pipeline(
        config.model_copy(update={"models": [recording]}), options,
        report=report or (lambda _line: None), source=source,
    )
    began = time.perf_counter()
    summary = pipeline.run()
    return ReplayResult(fired, summary.delivered, time.perf_counter() - began)



def event_row(item: ReplayedEvent) -> tuple[str, str, str, str]:
    """(time, rule, object, reason) as printed by ``streamer replay``."""
    event = item.event
    if event.track_id is not None:
        what = f"{event.class_name or 'object'} #{event.track_id}"
    else:
        what = f"{event.count} {event.class_name or 'object'}"
    return (f"{event.t_s:.2f}", event.rule_id, what, event.reason)


def format_table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    header = ("time_s", "rule", "object", "reason")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    out = []
    for row in [header, *rows]:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return out
