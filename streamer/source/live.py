"""A live source (RTSP, USB, HTTP) that heals itself (issues 6 and 19).

A supervisor thread runs one reader thread per connection, reopens with jittered backoff
for ever, and abandons a reader whose read hangs past ``stall_timeout_s`` instead of
waiting on it. Each reader carries a generation number; frames from an abandoned
generation are thrown away, so a read that returns late can never hand over a stale frame.

The backoff is short for cameras: it doubles from 1 s to ``RECONNECT_MAX_S`` (3 s for RTSP
and USB), so a camera that comes back after an outage of any length is watched again
within that wait plus one open (about 3 s for RTSP), under 10 s. ``start()`` never fails:
``ready`` is set once the first frame arrived (size and fps known).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from streamer.backoff import Backoff
from streamer.health_state import HealthState
from streamer.redact import redact
from streamer.schema.sections import CameraConfig
from streamer.source.base import CaptureBase
from streamer.source.filters import FrozenDetector
from streamer.source.handoff import LatestFrame
from streamer.source.openers import OpenedStream
from streamer.source.packets import PacketSink, PacketStream

log = logging.getLogger("streamer.source")

RECONNECT_START_S = 1.0
# Longest wait between reconnect attempts unless `camera.reconnect_max_s` says otherwise.
# A camera on the site's network refuses at once while it is down, so attempts are cheap;
# the worst case back-to-picture is this wait plus one open (RTSP: ~1.1-2.8 s measured),
# which 3 s keeps well under the 10 s that sources promise. An http(s) URL is as often a
# remote server (HLS from a CDN, a cloud relay) as a camera: it keeps the polite 30 s.
RECONNECT_MAX_S: dict[str, float] = {"rtsp": 3.0, "usb": 3.0, "http": 30.0}


@dataclass
class _Connection:
    """One reader thread's view of its connection; the supervisor watches it."""

    generation: int
    started_mono: float
    phase: str = "opening"  # opening | reading | ended
    opened_mono: float = 0.0
    last_frame_mono: float = 0.0
    frames: int = 0
    error: str = ""


def _reason(exc: object) -> str:
    """A SourceError's text without its ``camera.source:`` prefix (the caller adds it)."""
    return redact(exc).removeprefix("camera.source: ")


class LiveSource(CaptureBase):
    """Supervises readers of a camera or stream, for ever, until ``stop``."""

    def __init__(
        self, config: CameraConfig, stop: threading.Event, clock: Callable[[], float] = time.time,
        on_packet: PacketSink | None = None,
    ) -> None:
        self._slot = LatestFrame()  # a camera's newest frame wins
        super().__init__(config, stop, clock, self._slot, on_packet)
        self.reconnect_max_s = config.reconnect_max_s or RECONNECT_MAX_S[self.kind]
        self._lock = threading.Lock()  # guards the generation
        self._generation = 0
        self._frozen = FrozenDetector(config.frozen_s)

    def _finish(self) -> None:
        with self._lock:
            self._generation += 1  # no reader may hand over a frame after this

    def _run_capture(self) -> None:
        """Supervisor: one reader per connection, reopened with backoff, for ever."""
        assert self.reconnect_max_s is not None
        backoff = Backoff(RECONNECT_START_S, self.reconnect_max_s)
        attempts = 0
        readers: list[threading.Thread] = []
        while not self._stop.is_set():
            with self._lock:
                self._generation += 1
                conn = _Connection(self._generation, time.monotonic())
            self._health.opening()
            if attempts:
                self.stats.reconnects_total += 1
            attempts += 1
            reader = threading.Thread(
                target=self._read_connection, args=(conn,), name=f"capture-reader-{conn.generation}",
                daemon=True,
            )
            reader.start()
            readers.append(reader)
            self._watch(conn, reader)
            if self._stop.is_set():
                self._let_readers_end(readers)
                return
            if conn.frames:
                backoff.reset()
            delay = backoff.next_delay()
            self._health.next_attempt_at(self._clock() + delay)
            log.debug("source %s: reopening in %.1f s", self.name, delay)
            if self._stop.wait(delay):
                self._let_readers_end(readers)
                return
            readers = [thread for thread in readers if thread.is_alive()]

    def _let_readers_end(self, readers: list[threading.Thread]) -> None:
        """On stop, give each reader still in a read the read timeout to come back and
        release its stream. A process that exits while a decoder thread is inside
        FFmpeg aborts ("terminate called without an active exception"), which a service
        manager reads as a crash; a reader hung past its own timeout is left behind."""
        deadline = time.monotonic() + self.config.read_timeout_s + 1.0
        for thread in readers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _watch(self, conn: _Connection, reader: threading.Thread) -> None:
        """Return when the connection ended, or abandon it once it stalls."""
        config = self.config
        # Opening is bounded by the open timeout plus the first frame's read timeout;
        # past that (and the stall bound) OpenCV ignored its own timeouts.
        open_bound_s = config.open_timeout_s + config.read_timeout_s + config.stall_timeout_s
        while not self._stop.is_set():
            reader.join(0.1)
            if self._stop.is_set():
                return
            if not reader.is_alive():
                self._connection_lost(conn, conn.error or "stream ended")
                return
            now = time.monotonic()
            if conn.phase == "opening":
                silent_s = now - conn.started_mono
                limit_s = open_bound_s
            else:
                silent_s = now - (conn.last_frame_mono or conn.opened_mono)
                limit_s = config.stall_timeout_s
            if silent_s >= limit_s:
                with self._lock:
                    self._generation += 1  # the hung reader may never hand over a frame
                self.stats.readers_abandoned_total += 1
                reason = f"no frame for {silent_s:.0f} s (stall_timeout_s {config.stall_timeout_s:g})"
                self.stats.last_error = reason
                log.warning("source %s stalled: %s; reopening", self.name, reason)
                self._set_state(HealthState.STALLED, reason)
                return

    def _connection_lost(self, conn: _Connection, reason: str) -> None:
        self.stats.last_error = reason
        if self.stats.state is HealthState.OFFLINE:
            return
        if self.stats.state is HealthState.CONNECTING and not conn.frames:
            log.warning(
                "camera.source: %s is not reachable yet (%s); retrying every %g s at most until it is",
                self.name, reason, self.reconnect_max_s,
            )
        else:
            log.warning(
                "source %s went offline (%s); reconnecting every %g s at most",
                self.name, reason, self.reconnect_max_s,
            )
        self._set_state(HealthState.OFFLINE, reason)

    def _read_connection(self, conn: _Connection) -> None:
        """Reader thread: open, then read until the stream fails or the supervisor moves on."""
        try:
            stream = self._open()
        except Exception as exc:  # SourceError, or OpenCV failing in a new way
            conn.error = _reason(exc)
            conn.phase = "ended"
            return
        try:
            if conn.generation != self._generation:
                return
            conn.opened_mono = time.monotonic()
            conn.phase = "reading"
            self._adopt(stream)
            while not self._stop.is_set() and conn.generation == self._generation:
                ok, image = stream.read()
                if not ok or image is None:
                    # A failed read never recovers in OpenCV (isOpened stays True): reopen.
                    said = stream.error if isinstance(stream, PacketStream) else ""
                    conn.error = said or "read failed (stream ended or camera gone)"
                    return
                self._deliver(conn, image, stream)
        finally:
            conn.phase = "ended"
            stream.release()

    def _deliver(self, conn: _Connection, image: np.ndarray, stream: OpenedStream | PacketStream) -> None:
        now_mono = time.monotonic()
        wall_ts = self._clock()
        frozen = self._frozen.update(image, now_mono)
        with self._lock:
            if conn.generation != self._generation:
                self.stats.frames_discarded_total += 1
                return  # abandoned: a late read must not reach the frame loop
            conn.last_frame_mono = now_mono
            conn.frames += 1
        self._count_read(wall_ts)
        self._note_picture(frozen)
        frame = self._frame(image, self.stats.frames_read_total - 1, now_mono - self._started_mono, wall_ts, stream)
        if frame is None:
            return
        with self._lock:
            if conn.generation == self._generation:
                self._slot.put(frame)

    def _note_picture(self, frozen: bool) -> None:
        """A frame came: ``live``, or ``frozen`` if the picture has not changed for long."""
        if frozen:
            if self.stats.state is not HealthState.FROZEN:
                log.warning("source %s: the picture has not changed for %g s", self.name, self.config.frozen_s)
            change = self._set_state(
                HealthState.FROZEN, f"the picture has not changed for {self.config.frozen_s:g} s"
            )
        else:
            if self.stats.state is not HealthState.LIVE:
                self.stats.last_error = ""
            change = self._set_state(HealthState.LIVE)
        if change is not None and change.away_s is not None:
            log.info(
                "source %s is back after %.1f s away (%d attempt(s))", self.name, change.away_s, change.attempts
            )
