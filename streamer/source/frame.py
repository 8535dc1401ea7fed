"""The frame handed from capture to every later stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded picture, stamped once at capture.

    Attributes:
        image: BGR ``uint8`` array (H, W, 3). Later stages must not draw on it; the
            overlay copies it first.
        index: 0-based position in the source (frames skipped by a live source still
            advance it).
        t_s: frame time in seconds, the only clock rules use: ``index / fps`` for files,
            monotonic seconds since the capture started for live sources.
        wall_ts: UTC wall-clock time of capture (epoch seconds); for files the run's start
            plus ``t_s``. Becomes the event's ``timestamp``.
        stream_ts: the picture's presentation time in the camera's own stream (seconds),
            where the source was read packet by packet for clips; else ``None``.
        stream_epoch: which opening of the source ``stream_ts`` belongs to (a reconnect
            or a file's loop starts a new one; their times do not compare).
        region: the part of the picture the rules watch, ``(x0, y0, x1, y1)`` as
            fractions of it; a detector may look only there (``detect.region``). ``None``:
            the whole picture.
        routine: the models run on it only to keep still objects tracked (a keepalive):
            a box's shared inference workers serve other cameras' runs first.
    """

    image: np.ndarray
    index: int
    t_s: float
    wall_ts: float
    stream_ts: float | None = None
    stream_epoch: int = 0
    region: tuple[float, float, float, float] | None = None
    routine: bool = False

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
