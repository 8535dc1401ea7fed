"""Capture: one thread per source decodes frames and hands them to the frame loop.

Live sources (RTSP, USB, HTTP) hand over through :class:`LatestFrame`: a new frame
overwrites an unread one, so latency never grows and every overwrite is counted. Files
hand over through a bounded queue with a blocking put: every frame, in order, unless
``realtime`` asks for live-camera behaviour.

A live source heals itself (issue 6): a supervisor thread runs one reader thread per
connection, reopens with jittered backoff for ever, and abandons a reader whose read hangs
past ``stall_timeout_s`` instead of waiting on it. Each reader carries a generation number;
frames from an abandoned generation are thrown away, so a read that returns late can never
hand over a stale frame.

The backoff is short for cameras (issue 19): it doubles from 1 s to ``RECONNECT_MAX_S``
(3 s for RTSP and USB), so a camera that comes back after an outage of any length is
watched again within that wait plus one open (about 3 s for RTSP), under 10 s. An outage
runs from the last frame to the next one: its down states (``stalled``, ``offline``) are
each reported once in it, however many attempts fail, and the return says how long the
picture was away.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from streamer.backoff import Backoff
from streamer.errors import SourceError
from streamer.redact import redact
from streamer.schema import CameraConfig
from streamer.source.frame import Frame
from streamer.source.openers import OpenedStream, SourceKind, classify, open_stream

log = logging.getLogger("streamer.source")

_END = object()

HEALTH_STATES = ("connecting", "live", "stalled", "frozen", "offline")
DOWN_STATES = ("stalled", "offline")  # no picture: an outage
RECONNECT_START_S = 1.0
# Longest wait between reconnect attempts unless `camera.reconnect_max_s` says otherwise.
# A camera on the site's network refuses at once while it is down, so attempts are cheap;
# the worst case back-to-picture is this wait plus one open (RTSP: ~1.1-2.8 s measured),
# which 3 s keeps well under the 10 s that sources promise. An http(s) URL is as often a
# remote server (HLS from a CDN, a cloud relay) as a camera: it keeps the polite 30 s.
RECONNECT_MAX_S: dict[str, float] = {"rtsp": 3.0, "usb": 3.0, "http": 30.0}
# Mean absolute difference (grey levels, 0..255) between 32x18 thumbnails below which two
# pictures count as the same: sensor noise and re-encoding stay under it, a person moving
# across the frame does not.
FROZEN_DIFF = 1.5


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
    """Counters the capture threads publish; read from other threads without a lock."""

    frames_read_total: int = 0
    frames_skipped_total: int = 0  # by the `fps` cap, on purpose
    reconnects_total: int = 0
    readers_abandoned_total: int = 0
    frames_discarded_total: int = 0  # read late by an abandoned reader, never handed over
    last_frame_wall_ts: float = 0.0
    state: str = "connecting"
    last_error: str = ""
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthChange:
    """One transition of a source's health, for health events.

    ``away_s`` and ``attempts`` are set on the return from an outage: how long no picture
    came, and how many opens it took.
    """

    state: str
    previous: str
    reason: str
    wall_ts: float
    away_s: float | None = None
    attempts: int = 0


class FrozenDetector:
    """Tells a frozen picture from a still scene by a cheap thumbnail difference.

    The reference thumbnail is kept until the picture moves away from it, so a slow drift
    (clouds, daylight) also counts as change once it adds up.
    """

    def __init__(self, frozen_s: float, threshold: float = FROZEN_DIFF) -> None:
        self.frozen_s = frozen_s
        self.threshold = threshold
        self._reference: np.ndarray | None = None
        self._since = 0.0

    def update(self, image: np.ndarray, t_s: float) -> bool:
        """``True`` once the picture has not changed for ``frozen_s`` seconds."""
        thumb = cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA).astype(np.int16)
        if (
            self._reference is None
            or float(np.abs(thumb - self._reference).mean()) > self.threshold
        ):
            self._reference = thumb
            self._since = t_s
            return False
        return t_s - self._since >= self.frozen_s

    def reset(self) -> None:
        self._reference = None


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
    text = redact(exc)
    return text.removeprefix("camera.source: ")


class Capture:
    """Owns one source: opens it, runs the capture threads, hands frames to the frame loop.

    A file opens in ``start()`` on the caller's thread, so a missing or undecodable file
    fails the run at once with a :class:`SourceError`. A live source never fails
    ``start()``: it is opened in the background and retried for ever; ``ready`` is set
    once it has delivered its first frame (size and fps known), and :meth:`health` says
    how it is doing.
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
        self.ready = threading.Event()
        self._stop = stop
        self._clock = clock
        self._live = self.kind != "file" or config.realtime
        self._slot = LatestFrame()
        self._queue: queue.Queue[Frame | object] = queue.Queue(maxsize=8)
        self._thread: threading.Thread | None = None
        self._stream: OpenedStream | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._changes: deque[HealthChange] = deque(maxlen=100)
        self._arrivals: deque[float] = deque(maxlen=128)
        self._frozen = FrozenDetector(config.frozen_s)
        self._started_mono = time.monotonic()
        self._started_wall = clock()
        # Files never reconnect: a missing one fails the run, an ended one ends it.
        self.reconnect_max_s: float | None = (
            None if self.kind == "file" else config.reconnect_max_s or RECONNECT_MAX_S[self.kind]
        )
        # The current outage (guarded by _lock): opens since the last frame, when the
        # picture went away, the down states already reported, when the next open is due.
        self._opens = 0
        self._down_since_wall: float | None = None
        self._reported_down: set[str] = set()
        self._next_attempt_wall: float | None = None
        self.fps: float = 0.0
        self.width = 0
        self.height = 0
        self.frame_count: int | None = None

    @property
    def dropped_total(self) -> int:
        return self._slot.dropped_total

    def start(self) -> None:
        """Start capturing; raises :class:`SourceError` only for a file that cannot be read."""
        self._started_mono = time.monotonic()
        self._started_wall = self._clock()
        if self.kind == "file":
            self._stream = open_stream(self.config, self.kind)
            self._adopt(self._stream)
            self._set_state("live")
            target = self._run_file
        else:
            target = self._run_live
        self._thread = threading.Thread(target=self._run, args=(target,), name="capture", daemon=True)
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
        """Wait for the capture thread; a hung reader thread is abandoned, never awaited."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- health -------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The source's health as one JSON-friendly dict (for status pages and events)."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._arrivals if now - t <= 5.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
        last = self.stats.last_frame_wall_ts
        wall_now = self._clock()
        with self._lock:
            down_since, next_wall = self._down_since_wall, self._next_attempt_wall
            attempts = self._opens if self.stats.state not in ("live", "frozen") else 0
        return {
            "source": self.name,
            "state": self.stats.state,
            "fps": round(fps, 2),
            "frames_read_total": self.stats.frames_read_total,
            "frames_dropped_total": self.dropped_total,
            "frames_skipped_total": self.stats.frames_skipped_total,
            "reconnects_total": self.stats.reconnects_total,
            "last_frame_age_s": round(max(self._clock() - last, 0.0), 3) if last else None,
            "last_error": self.stats.last_error,
            # This outage: opens tried since the picture went away, the next one's time.
            "reconnect_attempts": attempts,
            "next_attempt_wall_ts": next_wall,
            "next_attempt_in_s": round(max(next_wall - wall_now, 0.0), 2) if next_wall else None,
            "away_s": round(max(wall_now - down_since, 0.0), 1) if down_since else None,
            "reconnect_max_s": self.reconnect_max_s,
        }

    def health_changes(self) -> list[HealthChange]:
        """Transitions since the last call, oldest first (none are lost between polls)."""
        out = []
        with self._lock:
            while self._changes:
                out.append(self._changes.popleft())
        return out

    def no_frame_error(self, waited_s: float) -> SourceError:
        """The one line for a bounded run that never got a frame."""
        reason = self.stats.last_error or "still connecting"
        return SourceError(f"camera.source: no frame from {self.name} in {waited_s:.0f} s: {reason}")

    def _set_state(self, state: str, reason: str = "") -> HealthChange | None:
        """Move to ``state``; the change it queues for health events, if any.

        Within one outage each down state is queued once, however often the source moves
        between them or fails to reopen: one ``offline`` event per outage, not per attempt.
        """
        now = self._clock()
        with self._lock:
            previous = self.stats.state
            if previous == state:
                return None
            self.stats.state = state
            away_s: float | None = None
            attempts = 0
            if state in DOWN_STATES:
                if self._down_since_wall is None:
                    self._down_since_wall = self.stats.last_frame_wall_ts or self._started_wall
                if state in self._reported_down:
                    return None
                self._reported_down.add(state)
            elif state in ("live", "frozen"):
                if self._down_since_wall is not None:
                    away_s = max(now - self._down_since_wall, 0.0)
                    attempts = self._opens
                self._down_since_wall = None
                self._reported_down.clear()
                self._opens = 0
            change = HealthChange(state, previous, reason, now, away_s, attempts)
            self._changes.append(change)
            return change

    # --- capture threads ----------------------------------------------------------

    def _adopt(self, stream: OpenedStream) -> None:
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

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        """Scale to ``resize``, or to the first connection's size: zones and lines were laid
        out for that size, and a camera may come back from a reboot at another one."""
        size = (self.width, self.height)
        if self.width and (image.shape[1], image.shape[0]) != size:
            return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return np.asarray(image)

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception as exc:  # a bug or a decoder crash must end the stream visibly
            log.error("capture of %s failed: %s", self.name, redact(exc))
            self.stats.last_error = redact(exc)
        finally:
            with self._lock:
                self._generation += 1  # no reader may hand over a frame after this
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
                if not self.config.loop or index == 0:
                    return
                # `loop: true`: start the file again; frame time keeps counting up so rules
                # see one continuous video.
                self._stream.release()
                self._stream = open_stream(self.config, self.kind)
                continue
            t_s = index / fps
            frame = Frame(image=self._prepare(image), index=index, t_s=t_s, wall_ts=start_wall + t_s)
            index += 1
            self.stats.frames_read_total += 1
            self.stats.last_frame_wall_ts = self._clock()
            with self._lock:
                self._arrivals.append(time.monotonic())  # the measured input fps
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
        """Supervisor: one reader per connection, reopened with backoff, for ever."""
        assert self.reconnect_max_s is not None  # set for every live kind
        backoff = Backoff(RECONNECT_START_S, self.reconnect_max_s)
        attempts = 0
        while not self._stop.is_set():
            with self._lock:
                self._generation += 1
                conn = _Connection(self._generation, time.monotonic())
                self._opens += 1
                self._next_attempt_wall = None
            if attempts:
                self.stats.reconnects_total += 1
            attempts += 1
            reader = threading.Thread(
                target=self._read_connection, args=(conn,), name=f"capture-reader-{conn.generation}",
                daemon=True,
            )
            reader.start()
            self._watch(conn, reader)
            if self._stop.is_set():
                return
            if conn.frames:
                backoff.reset()
            delay = backoff.next_delay()
            with self._lock:
                self._next_attempt_wall = self._clock() + delay
            log.debug("source %s: reopening in %.1f s", self.name, delay)
            if self._stop.wait(delay):
                return

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
                self._set_state("stalled", reason)
                return

    def _connection_lost(self, conn: _Connection, reason: str) -> None:
        self.stats.last_error = reason
        if self.stats.state in ("offline",):
            return
        if self.stats.state == "connecting" and not conn.frames:
            log.warning(
                "camera.source: %s is not reachable yet (%s); retrying every %g s at most until it is",
                self.name, reason, self.reconnect_max_s,
            )
        else:
            log.warning(
                "source %s went offline (%s); reconnecting every %g s at most",
                self.name, reason, self.reconnect_max_s,
            )
        self._set_state("offline", reason)

    def _read_connection(self, conn: _Connection) -> None:
        """Reader thread: open, then read until the stream fails or the supervisor moves on."""
        try:
            stream = open_stream(self.config, self.kind)
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
            min_gap_s = 1.0 / self.config.fps if self.config.fps else 0.0
            while not self._stop.is_set() and conn.generation == self._generation:
                ok, image = stream.read()
                if not ok or image is None:
                    # A failed read never recovers in OpenCV (isOpened stays True): reopen.
                    conn.error = "read failed (stream ended or camera gone)"
                    return
                self._deliver(conn, image, min_gap_s)
        finally:
            conn.phase = "ended"
            stream.release()

    def _deliver(self, conn: _Connection, image: np.ndarray, min_gap_s: float) -> None:
        now_mono = time.monotonic()
        wall_ts = self._clock()
        frozen = self._frozen.update(image, now_mono)
        with self._lock:
            if conn.generation != self._generation:
                self.stats.frames_discarded_total += 1
                return  # abandoned: a late read must not reach the frame loop
            conn.last_frame_mono = now_mono
            conn.frames += 1
            self._arrivals.append(now_mono)
        self.stats.frames_read_total += 1
        self.stats.last_frame_wall_ts = wall_ts
        if frozen:
            if self.stats.state != "frozen":
                log.warning("source %s: the picture has not changed for %g s", self.name, self.config.frozen_s)
            change = self._set_state("frozen", f"the picture has not changed for {self.config.frozen_s:g} s")
        else:
            if self.stats.state != "live":
                self.stats.last_error = ""
            change = self._set_state("live")
        if change is not None and change.away_s is not None:
            log.info(
                "source %s is back after %.1f s away (%d attempt(s))", self.name, change.away_s, change.attempts
            )
        t_s = now_mono - self._started_mono
        if min_gap_s and t_s - self.stats.extra.get("last_kept_t", -1e18) < min_gap_s - 1e-9:
            self.stats.frames_skipped_total += 1
            return
        self.stats.extra["last_kept_t"] = t_s
        frame = Frame(
            image=self._prepare(image), index=self.stats.frames_read_total - 1, t_s=t_s, wall_ts=wall_ts
        )
        with self._lock:
            if conn.generation == self._generation:
                self._slot.put(frame)
