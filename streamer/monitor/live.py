"""The live view's hand-over point between the frame loop and the monitor's viewers.

The frame loop only calls :meth:`LiveView.publish` (store two references, bump a
counter, notify): drawing and JPEG encoding happen on the viewers' threads, only while
someone watches, at most ``max_fps`` times a second, and once per frame however many
viewers there are. A slow viewer simply gets the newest frame when it is ready again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import supervision as sv

from streamer.imaging import encode_jpeg
from streamer.source.frame import Frame

Draw = Callable[[Frame, sv.Detections], np.ndarray]


class LiveView:
    """Newest frame and detections, and the newest annotated JPEG made from them.

    Args:
        draw: the overlay (returns a new annotated image; must not draw on ``frame``).
        max_fps: cap on annotated frames made per second for all viewers together.
        quality: JPEG quality of the stream and snapshot.
    """

    def __init__(self, draw: Draw, max_fps: float = 5.0, quality: int = 75) -> None:
        self._draw = draw
        self._min_interval_s = 1.0 / max_fps if max_fps > 0 else 0.0
        self._quality = quality
        self._cond = threading.Condition()
        self._seq = 0
        self._frame: Frame | None = None
        self._dets: sv.Detections | None = None
        self._render_lock = threading.Lock()
        self._jpeg: bytes | None = None
        self._jpeg_seq = -1
        self._jpeg_made_at = 0.0
        self.renders_total = 0

    def publish(self, frame: Frame, dets: sv.Detections) -> None:
        """Frame-loop side: never blocks on a viewer."""
        with self._cond:
            self._frame, self._dets = frame, dets
            self._seq += 1
            self._cond.notify_all()

    @property
    def seq(self) -> int:
        return self._seq

    def raw_jpeg(self) -> bytes | None:
        """The newest frame as the camera gave it, without the overlay (the places editor
        draws on it); None before the first frame. Encoded on the caller's thread."""
        with self._cond:
            frame = self._frame
        if frame is None:
            return None
        try:
            return encode_jpeg(frame.image, self._quality)
        except ValueError:
            return None

    def jpeg(self, after_seq: int = -1, timeout: float = 2.0) -> tuple[int, bytes] | None:
        """The annotated JPEG of a frame newer than ``after_seq``; ``None`` if none came.

        Waits up to ``timeout`` for a new frame, and respects ``max_fps`` by handing
        out the cached picture until the interval has passed.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq <= after_seq or self._frame is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        with self._render_lock:
            now = time.monotonic()
            fresh_enough = now - self._jpeg_made_at < self._min_interval_s
            if self._jpeg is not None and (self._jpeg_seq == self._seq or fresh_enough):
                if self._jpeg_seq > after_seq:
                    return self._jpeg_seq, self._jpeg
                # Rate cap: wait out the interval rather than spin.
                time.sleep(max(0.0, self._min_interval_s - (now - self._jpeg_made_at)))
            with self._cond:
                seq, frame, dets = self._seq, self._frame, self._dets
            assert frame is not None and dets is not None
            try:
                jpeg = encode_jpeg(self._draw(frame, dets), self._quality)
            except ValueError:
                return None
            self._jpeg, self._jpeg_seq = jpeg, seq
            self._jpeg_made_at = time.monotonic()
            self.renders_total += 1
            return seq, self._jpeg
