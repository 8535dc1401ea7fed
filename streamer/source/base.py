"""What the frame loop needs of a source, and the part every source shares.

A source runs its own capture thread(s) and hands stamped frames over; the frame loop
reads them, asks for health, and stops every source through the run's ``stop`` event.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from streamer.errors import SourceError
from streamer.health_state import HealthState
from streamer.rate import RateMeter
from streamer.redact import redact
from streamer.schema.sections import CameraConfig
from streamer.source.filters import FpsCap, fit
from streamer.source.frame import Frame
from streamer.source.handoff import END, FrameQueue, LatestFrame
from streamer.source.openers import OpenedStream, SourceKind, classify, open_stream
from streamer.source.packets import PacketSink, PacketStream
from streamer.source.source_health import HealthChange, SourceHealth

log = logging.getLogger("streamer.source")


class Source(Protocol):
    """A file, camera or stream as the frame loop sees it (stopped by the run's ``stop``);
    ``replay``'s recorded frames are one too."""

    name: str
    ready: threading.Event  # set once the first frame told size and fps
    width: int
    height: int
    fps: float

    @property
    def frame_count(self) -> int | None:
        """Frames in a file, None for a live source (read-only here: a source may know it
        for certain, as ``replay``'s recorded frames do)."""

    def start(self) -> None: ...
    def read(self, timeout: float = 0.5) -> Frame | None: ...
    def join(self, timeout: float = 5.0) -> bool: ...
    def health(self) -> dict[str, Any]: ...
    def health_changes(self) -> list[HealthChange]: ...
    def set_view(self, state: HealthState | None, reason: str = "",
                 figures: Mapping[str, float | None] | None = None) -> None: ...
    def no_frame_error(self, waited_s: float) -> SourceError: ...
    @property
    def dropped_total(self) -> int: ...


@dataclass
class SourceStats:
    """Counters the capture threads publish; read from other threads without a lock."""

    frames_read_total: int = 0
    frames_skipped_total: int = 0  # by the `fps` cap, on purpose
    reconnects_total: int = 0
    readers_abandoned_total: int = 0
    frames_discarded_total: int = 0  # read late by an abandoned reader, never handed over
    last_frame_wall_ts: float = 0.0
    state: HealthState = HealthState.CONNECTING
    last_error: str = ""


class CaptureBase:
    """Runs one source's capture thread and hands its frames over (see :class:`Source`).

    Subclasses give ``_run_capture`` (the thread's work) and may override ``start``;
    ``handoff`` is a :class:`LatestFrame` (newest wins, for cameras) or a :class:`FrameQueue`
    (every frame in order, for files).
    """

    final_state = HealthState.OFFLINE  # once the capture thread is over

    def __init__(
        self,
        config: CameraConfig,
        stop: threading.Event,
        clock: Callable[[], float],
        handoff: LatestFrame | FrameQueue,
        on_packet: PacketSink | None = None,
    ) -> None:
        self.config = config
        self._on_packet = on_packet  # set: the camera's packets go to the clip recorder
        self._epochs = itertools.count(1)
        self.kind: SourceKind = classify(config.source)
        self.name = redact(config.source)
        self.stats = SourceStats()
        self.ready = threading.Event()
        self._stop = stop
        self._clock = clock
        self._handoff = handoff
        self._thread: threading.Thread | None = None
        self._fps_in = RateMeter()
        self._cap = FpsCap(config.fps)
        self._started_mono = time.monotonic()
        self._health = SourceHealth(clock, clock())
        self.reconnect_max_s: float | None = None  # files never reconnect
        self.fps: float = 0.0
        self.width = 0
        self.height = 0
        self.frame_count: int | None = None

    @property
    def dropped_total(self) -> int:
        return self._handoff.dropped_total

    def start(self) -> None:
        """Start the capture thread."""
        self._started_mono = time.monotonic()
        self._health.started_wall = self._clock()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def read(self, timeout: float = 0.5) -> Frame | None:
        """Next frame for the frame loop; ``None`` on timeout; raises ``EOFError`` at the end."""
        item = self._handoff.get(timeout)
        if item is END:
            raise EOFError
        return item  # type: ignore[return-value]  # the hand-off holds frames, and END

    def join(self, timeout: float = 5.0) -> bool:
        """Wait for the capture thread; a hung reader thread is abandoned, never awaited."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def no_frame_error(self, waited_s: float) -> SourceError:
        """The one line for a bounded run that never got a frame."""
        reason = self.stats.last_error or "still connecting"
        return SourceError(f"camera.source: no frame from {self.name} in {waited_s:.0f} s: {reason}")

    # --- health -------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The source's health as one JSON-friendly dict (for status pages and events)."""
        fps = self._fps_in.rate(self.stats.frames_read_total)
        last = self.stats.last_frame_wall_ts
        wall_now = self._clock()
        outage = self._health.outage()
        next_wall, down_since = outage.next_attempt_wall_ts, outage.down_since_wall_ts
        return {
            "source": self.name,
            "state": self.stats.state,
            "fps": round(fps, 2),
            "frames_read_total": self.stats.frames_read_total,
            "frames_dropped_total": self.dropped_total,
            "frames_skipped_total": self.stats.frames_skipped_total,
            "reconnects_total": self.stats.reconnects_total,
            "last_frame_age_s": round(max(wall_now - last, 0.0), 3) if last else None,
            "last_error": self.stats.last_error,
            # This outage: opens tried since the picture went away, the next one's time.
            "reconnect_attempts": outage.attempts,
            "next_attempt_wall_ts": next_wall,
            "next_attempt_in_s": round(max(next_wall - wall_now, 0.0), 2) if next_wall else None,
            "away_s": round(max(wall_now - down_since, 0.0), 1) if down_since else None,
            "reconnect_max_s": self.reconnect_max_s,
        }

    def health_changes(self) -> list[HealthChange]:
        """Transitions since the last call, oldest first (none are lost between polls)."""
        return self._health.changes()

    def set_view(self, state: HealthState | None, reason: str = "",
                 figures: Mapping[str, float | None] | None = None) -> None:
        """The view watch's verdict (any thread): a view state (``moved``, ``obstructed``,
        ``blurred``) with its reason and figures, or None once the picture is right again."""
        change = self._health.view(state, reason, figures)
        self.stats.state = self._health.state
        if change is not None:
            if change.state.view:
                log.warning("source %s is %s: %s", self.name, change.state, change.reason)
            else:
                log.info("source %s: %s", self.name, change.reason)

    def _set_state(self, state: HealthState, reason: str = "") -> HealthChange | None:
        change = self._health.set(state, reason, self.stats.last_frame_wall_ts)
        self.stats.state = self._health.state
        return change

    # --- the capture thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            self._run_capture()
        except Exception as exc:  # a bug or a decoder crash must end the stream visibly
            log.error("capture of %s failed: %s", self.name, redact(exc))
            self.stats.last_error = redact(exc)
        finally:
            self._finish()
            self._health.end(self.final_state)
            self.stats.state = self._health.state
            self._handoff.end()

    def _run_capture(self) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Release what the capture thread held (before the end marker goes out)."""

    def _adopt(self, stream: OpenedStream | PacketStream) -> None:
        """Take size and fps from the first stream that opened (later reopens keep them)."""
        if self.ready.is_set():
            return
        self.fps = stream.fps
        if self.config.resize:
            self.width, self.height = self.config.resize
        else:
            self.width, self.height = stream.width, stream.height
        self.frame_count = stream.frame_count
        self.ready.set()

    def _count_read(self, wall_ts: float) -> None:
        """One more frame read from the source (before the cap): counters and input fps."""
        self.stats.frames_read_total += 1
        self.stats.last_frame_wall_ts = wall_ts
        self._fps_in.sample(self.stats.frames_read_total)

    def _open(self) -> OpenedStream | PacketStream:
        """Open the source (a new epoch of stream times each time)."""
        return open_stream(self.config, self.kind, self._on_packet, next(self._epochs))

    def _frame(
        self, image: np.ndarray, index: int, t_s: float, wall_ts: float,
        stream: OpenedStream | PacketStream,
    ) -> Frame | None:
        """The frame to hand over, resized; None when the ``fps`` cap skips it."""
        if not self._cap.keep(t_s):
            self.stats.frames_skipped_total += 1
            return None
        return Frame(
            image=fit(image, self.width, self.height), index=index, t_s=t_s, wall_ts=wall_ts,
            stream_ts=stream.last_stream_ts, stream_epoch=stream.epoch,
        )
