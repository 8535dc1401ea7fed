"""Capture: one thread per source decodes frames and hands them to the frame loop.

Live sources (RTSP, USB, HTTP) hand over through :class:`LatestFrame`: a new frame
overwrites an unread one, so latency never grows and every overwrite is counted. Files
hand over through a bounded queue with a blocking put: every frame, in order, unless
``realtime`` asks for live-camera behaviour.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from streamer.config.models import CameraConfig
from streamer.errors import SourceError
from streamer.redact import redact
from streamer.source.frame import Frame
from streamer.source.openers import OpenedStream, SourceKind, classify, open_stream

log = logging.getLogger("streamer.source")

_END = object()


class LatestFrame:
    """A one-frame slot: ``put`` overwrites (counting the drop), ``get`` waits for news."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self.dropped_total = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped_total += 1
            self._frame = frame
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None | object:
        """The newest unread frame, ``_END`` once ended and drained, or ``None`` on timeout."""
        with self._cond:
            if self._frame is None and not self._ended:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            if frame is None and self._ended:
                return _END
            return frame


@dataclass
class SourceStats:
    """Counters the capture thread publishes; read from other threads without a lock."""

    frames_read_total: int = 0
    frames_skipped_total: int = 0  # by the `fps` cap, on purpose
    reconnects_total: int = 0
    last_frame_wall_ts: float = 0.0
    state: str = "connecting"
    last_error: str = ""
    extra: dict[str, float] = field(default_factory=dict)


class Capture:
    """Owns one source: opens it, runs the capture thread, hands frames to the frame loop.

    ``start()`` opens the stream on the caller's thread so a missing file or an
    unreachable camera fails the run at once with a :class:`SourceError`; later
    failures of a live source are retried in the capture thread with backoff.
    """

    def __init__(
        self,
        config: CameraConfig,
        stop: threading.Event,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.kind: SourceKind = classify(config.source)
        self.name = redact(config.source)
        self.stats = SourceStats()
        self._stop = stop
        self._clock = clock
        self._live = self.kind != "file" or config.realtime
        self._slot = LatestFrame()
        self._queue: queue.Queue[Frame | object] = queue.Queue(maxsize=8)
        self._thread: threading.Thread | None = None
        self._stream: OpenedStream | None = None
        self.fps: float = 0.0
        self.width = 0
        self.height = 0
        self.frame_count: int | None = None

    @property
    def dropped_total(self) -> int:
        return self._slot.dropped_total

    def start(self) -> None:
        """Open the source (raises :class:`SourceError`) and start the capture thread."""
        self._stream = open_stream(self.config, self.kind)
        self.fps = self._stream.fps
        self.width, self.height = self._stream.width, self._stream.height
        self.frame_count = self._stream.frame_count
        self.stats.state = "live"
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def read(self, timeout: float = 0.5) -> Frame | None:
        """Next frame for the frame loop; ``None`` on timeout; raises ``EOFError`` at the end."""
        if self._live:
            item = self._slot.get(timeout)
        else:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return None
        if item is _END:
            raise EOFError
        return item  # type: ignore[return-value]

    def join(self, timeout: float = 5.0) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- capture thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.kind == "file":
                self._run_file()
            else:
                self._run_live()
        except Exception as exc:  # a bug or a decoder crash must end the stream visibly
            log.error("capture of %s failed: %s", self.name, redact(exc))
            self.stats.last_error = redact(exc)
        finally:
            if self._stream is not None:
                self._stream.release()
            self.stats.state = "ended" if self.kind == "file" else "offline"
            self._slot.end()
            self._put_file_item(_END, final=True)

    def _run_file(self) -> None:
        assert self._stream is not None
        fps = self.fps
        start_wall = self._clock()
        start_mono = time.monotonic()
        min_gap_s = 1.0 / self.config.fps if self.config.fps else 0.0
        last_kept_t = -1e18
        index = 0
        while not self._stop.is_set():
            ok, image = self._stream.read()
            if not ok or image is None:
                return
            t_s = index / fps
            frame = Frame(image=image, index=index, t_s=t_s, wall_ts=start_wall + t_s)
            index += 1
            self.stats.frames_read_total += 1
            self.stats.last_frame_wall_ts = self._clock()
            if min_gap_s and t_s - last_kept_t < min_gap_s - 1e-9:
                self.stats.frames_skipped_total += 1
                continue
            last_kept_t = t_s
            if self.config.realtime:
                # Pace at the file's own rate, like a camera would deliver it.
                delay = start_mono + t_s - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                self._slot.put(frame)
            elif not self._put_file_item(frame):
                return

    def _put_file_item(self, item: Frame | object, final: bool = False) -> bool:
        """Blocking put that still notices ``stop``; the end marker always gets in."""
        if self._live and item is _END:
            return True
        while True:
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                if final:
                    # The frame loop is gone or stopping: make room for the end marker.
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass
                elif self._stop.is_set():
                    return False

    def _run_live(self) -> None:
        start_mono = time.monotonic()
        min_gap_s = 1.0 / self.config.fps if self.config.fps else 0.0
        last_kept = -1e18
        index = 0
        backoff_s = 1.0
        while not self._stop.is_set():
            if self._stream is None:
                try:
                    self._stream = open_stream(self.config, self.kind)
                    self.stats.reconnects_total += 1
                    self.stats.state = "live"
                    log.info("source %s is back", self.name)
                    backoff_s = 1.0
                except SourceError as exc:
                    self.stats.last_error = str(exc)
                    delay = backoff_s * random.uniform(0.8, 1.2)
                    backoff_s = min(backoff_s * 2, 30.0)
                    if self._stop.wait(delay):
                        return
                    continue
            ok, image = self._stream.read()
            if not ok or image is None:
                # A failed read never recovers in OpenCV (isOpened stays True): reopen.
                log.warning("source %s: read failed; reconnecting", self.name)
                self.stats.state = "offline"
                self._stream.release()
                self._stream = None
                continue
            now_mono = time.monotonic()
            self.stats.frames_read_total += 1
            self.stats.last_frame_wall_ts = self._clock()
            t_s = now_mono - start_mono
            index += 1
            if min_gap_s and t_s - last_kept < min_gap_s - 1e-9:
                self.stats.frames_skipped_total += 1
                continue
            last_kept = t_s
            self._slot.put(
                Frame(image=np.asarray(image), index=index - 1, t_s=t_s, wall_ts=self._clock())
            )
