"""The event writer: the frame loop's only door to the outbox.

The frame loop calls :meth:`EventWriter.submit`, which never blocks (rule 1 of
docs/architecture.md): a full queue counts a drop and warns, rate limited. The writer thread
renders the snapshot, encodes the JPEG, builds the payload and commits it; only then is
the event accepted. ``stop()`` enqueues a sentinel and drains what is left, like the
standard library's ``QueueListener``.

When the outbox cannot be written (disk full, read-only, I/O error) the prepared events
wait in memory, in order, and the write is retried with backoff; the queue from the frame
loop keeps draining meanwhile, so raw frames never pile up behind a failing disk. What
waits is bounded by bytes (``backlog_bytes``), not by count: one 1080p event is a few
hundred KB of JPEG, its raw frame 6 MB. An event that finally cannot be stored is counted
as ``unstored`` with the reason (rule 2: never silent), and the writer reports itself
degraded until a write succeeds again.

An event may expect a clip (issue 17): :meth:`EventWriter.submit` takes its
:class:`ClipPlan`, and the clip recorder later hands the MP4 to
:meth:`EventWriter.attach_clip`. Both travel through the same queue, so a clip is always
stored after its event (and waits behind it while the outbox fails).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamer.events.backlog import Backlog
from streamer.events.clips import ClipPlan
from streamer.events.outbox import Outbox
from streamer.events.prepare import Prepared, Preparer, SnapshotRenderer, Submitted
from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame

log = logging.getLogger("streamer.events")

_STOP = object()

# Retry of a failing outbox: soon at first (a brief lock or hiccup), then every few
# seconds, so an operator who frees the disk sees the backlog stored within seconds.
RETRY_START_S = 0.25
RETRY_MAX_S = 5.0
BACKLOG_BYTES = 64 * 2**20
ABANDONED = "shutdown gave up waiting for the event writer"


@dataclass(frozen=True)
class AcceptedEvent:
    """An event committed to the outbox, as the summary and the monitor show it."""

    event_id: str
    event: RuleEvent
    timestamp: str
    snapshot: bytes


@dataclass(frozen=True)
class _Clip:
    """A clip the recorder attached (``mp4`` None: it failed), in the queue or waiting."""

    event_id: str
    mp4: bytes | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return len(self.mp4 or b"") + 512


class EventWriter:
    """Owns the bounded queue and the writer thread.

    Args:
        outbox: where accepted events go.
        sinks: names of the sinks each event is queued for.
        device_id, stream_id, render_snapshot, include_input_image: how each event's
            record is made, on this thread (see :class:`Preparer`).
        on_accepted: called after each commit (wakes the senders).
        backlog_bytes: bytes of prepared events held in memory while the outbox cannot
            be written; past it the oldest waiting event is given up (counted unstored).
        retry_start_s, retry_max_s: backoff of the write retries (doubling, capped).
    """

    def __init__(
        self,
        outbox: Outbox,
        sinks: Sequence[str],
        device_id: str,
        stream_id: str,
        render_snapshot: SnapshotRenderer,
        queue_size: int = 256,
        on_accepted: Callable[[], None] = lambda: None,
        include_input_image: bool = False,
        backlog_bytes: int = BACKLOG_BYTES,
        retry_start_s: float = RETRY_START_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self._outbox = outbox
        self._sinks = list(sinks)
        self._prepare = Preparer(render_snapshot, device_id, stream_id, include_input_image)
        self._on_accepted = on_accepted
        self._counts_on_disk = _CountsOnDisk(outbox, self._sinks)
        self._queue: queue.Queue[Submitted | _Clip | object] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._last_drop_warning = 0.0
        self._backlog: Backlog[Prepared | _Clip] = Backlog(
            backlog_bytes, retry_start_s, retry_max_s
        )
        self._give_up_s = 0.0
        # Guards the counters that stop() may settle for a writer that hangs.
        self._lock = threading.Lock()
        self._abandoned = False
        self.submitted_total = 0
        self.accepted_total = 0
        self.dropped_total = 0
        self.unstored_total = 0
        self.unstored_reasons: Counter[str] = Counter()
        # Non-empty while the outbox cannot be written: the run is degraded.
        self.store_error = ""
        self.accepted_by_rule: Counter[str] = Counter()
        # Clips (issue 17): stored, given up (full queue, no room while the outbox fails),
        # and attached for an event that is not in the outbox (never stored, or evicted).
        self.clips_attached_total = 0
        self.clips_lost_total = 0
        self.clips_orphaned_total = 0
        # The latest few, for the run summary and the monitor (no database read there).
        self.recent: deque[AcceptedEvent] = deque(maxlen=20)

    @property
    def waiting(self) -> int:
        """Events prepared but not yet stored, held in memory while the outbox fails."""
        return sum(isinstance(item, Prepared) for item in self._backlog.items())

    @property
    def waiting_bytes(self) -> int:
        """Bytes of events and clips held in memory while the outbox fails."""
        return self._backlog.nbytes

    @property
    def outbox(self) -> Outbox:
        """Where accepted events go (the monitor reads clips from it)."""
        return self._outbox

    def start(self) -> None:
        self._thread.start()

    def submit(
        self, event: RuleEvent, frame: Frame, event_id: str | None = None,
        clip: ClipPlan | None = None,
    ) -> bool:
        """Hand an event over without waiting; ``False`` (and a counted drop) when full.

        ``event_id`` (made by the caller, so the clip recorder knows it) becomes the
        payload's ``eventId``; with ``clip`` the event is stored expecting that clip.
        """
        try:
            self._queue.put_nowait(Submitted(event, frame, event_id, clip))
            self.submitted_total += 1
            return True
        except queue.Full:
            self.dropped_total += 1
            now = time.monotonic()
            if now - self._last_drop_warning > 5.0:
                self._last_drop_warning = now
                log.warning(
                    "event queue full: dropped an event of rule %s (%d dropped so far); "
                    "the outbox disk is too slow",
                    event.rule_id,
                    self.dropped_total,
                )
            return False

    def attach_clip(self, event_id: str, mp4: bytes | None, meta: dict[str, Any]) -> None:
        """Hand an event's clip over without waiting (any thread); it is stored after the
        event itself. ``mp4`` None marks the clip failed, ``meta["reason"]`` saying why.
        A full queue loses the clip (counted, logged): the event is then delivered without
        it once it is due."""
        if mp4 is None and "reason" not in meta:
            meta = {**meta, "reason": "the recorder gave no reason"}
        try:
            self._queue.put_nowait(_Clip(event_id, mp4, dict(meta)))
        except queue.Full:
            self._lose_clip(event_id, "the event queue was full")

    def _lose_clip(self, event_id: str, why: str) -> None:
        with self._lock:
            self.clips_lost_total += 1
        log.warning("clip of event %s not stored: %s (the event goes out without it)", event_id, why)

    def stop(self, timeout: float = 30.0, give_up_s: float = 10.0) -> bool:
        """Write everything already submitted, then end the thread; False if it hung.

        While the outbox fails, the waiting events get ``give_up_s`` more to be stored;
        then they are counted unstored. A thread still busy after ``timeout`` more
        seconds (a write that hangs) has its outstanding events counted unstored too.
        """
        if not self._thread.is_alive():
            # Ended before it was asked to (a bug in it): what it still held is named.
            self._count_outstanding("the event writer stopped on an internal error")
            return True
        self._give_up_s = give_up_s
        deadline = time.monotonic() + give_up_s + timeout
        try:
            # Bounded: a write that hangs with the queue full must not hang the shutdown too.
            self._queue.put(_STOP, timeout=give_up_s + timeout)
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._thread.is_alive():
            return True
        self._count_outstanding(ABANDONED, abandon=True)
        return False

    def _count_outstanding(self, reason: str, abandon: bool = False) -> None:
        """Count what was submitted but neither stored nor given up as unstored; with
        ``abandon`` the writer thread's later give-ups are not counted again."""
        with self._lock:
            outstanding = self.submitted_total - self.accepted_total - self.unstored_total
            self._abandoned = self._abandoned or abandon
            if outstanding > 0:
                self._count_unstored(outstanding, reason)

    # --- the writer thread ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._backlog.wait_s())
            except queue.Empty:
                item = None
            if item is _STOP:
                self._finish()
                return
            if isinstance(item, Submitted):
                self._take(item)
            elif isinstance(item, _Clip):
                self._queue_or_store(item)
            if self._backlog.due():
                self._flush()

    def _take(self, item: Submitted) -> None:
        event = item.event
        try:
            prepared = self._prepare(item)
        except Exception as exc:  # one bad event must not end the writer
            log.error("could not prepare an event of rule %s: %s", event.rule_id, exc)
            self._give_up(1, f"could not prepare the event: {exc}")
            return
        self._queue_or_store(prepared)

    def _queue_or_store(self, item: Prepared | _Clip) -> None:
        if self._backlog:
            self._hold(item)  # behind the ones already waiting: order is kept
        elif not self._store(item):
            self._hold(item)
            self._backlog.schedule_retry()

    def _store(self, item: Prepared | _Clip) -> bool:
        """Commit one event or clip; False (and ``store_error`` set) when the outbox failed."""
        if isinstance(item, _Clip):
            return self._store_clip(item)
        prepared = item
        record = prepared.record
        try:
            self._outbox.add(record, self._sinks)
        except sqlite3.IntegrityError as exc:  # this event, not the disk: no retry helps
            self._give_up(1, f"the outbox refused it: {exc}")
            return True
        except (sqlite3.Error, OSError) as exc:
            self._failed_write(exc)
            return False
        with self._lock:
            self.accepted_total += 1
            if self._abandoned and self.unstored_reasons[ABANDONED] > 0:
                self._count_unstored(-1, ABANDONED)  # counted lost at shutdown, stored after all
        self.accepted_by_rule[record.rule_id] += 1
        self.recent.append(
            AcceptedEvent(record.event_id, prepared.event, record.payload["timestamp"], record.images[0])
        )
        self._record_counts()
        self._on_accepted()
        return True

    def _store_clip(self, clip: _Clip) -> bool:
        try:
            attached = self._outbox.attach_clip(clip.event_id, clip.mp4, clip.meta)
        except (sqlite3.Error, OSError) as exc:
            self._failed_write(exc)
            return False
        if not attached:
            self.clips_orphaned_total += 1
            log.warning(
                "a clip came for event %s, which is not in the outbox (never stored, or "
                "evicted): clip dropped", clip.event_id,
            )
            return True
        self.clips_attached_total += 1
        self._on_accepted()  # senders holding the event back for its clip go on now
        return True

    def _failed_write(self, exc: BaseException) -> None:
        reason = f"cannot write {self._outbox.path}: {exc}"
        if reason != self.store_error:
            log.error(
                "%s; events wait in memory (up to %.0f MB) and the write is retried",
                reason, self._backlog.max_bytes / 2**20,
            )
        self.store_error = reason

    def _hold(self, item: Prepared | _Clip) -> None:
        for oldest in self._backlog.hold(item):
            self._drop_waiting(
                [oldest],
                f"no room left in memory ({self._backlog.max_bytes / 2**20:.3g} MB) while the "
                f"outbox failed: {self.store_error}",
            )

    def _drop_waiting(self, items: list[Prepared | _Clip], reason: str) -> None:
        """Give up on waiting items: events count as unstored, clips as lost."""
        events = sum(isinstance(item, Prepared) for item in items)
        if events:
            self._give_up(events, reason)
        for item in items:
            if isinstance(item, _Clip):
                self._lose_clip(item.event_id, reason)

    def _flush(self) -> bool:
        """Store the waiting events in order; True when none is left."""
        stored = self._backlog.flush(self._store)
        if stored is None:
            return False
        log.warning(
            "outbox writable again: stored %d event(s) that waited in memory", stored
        )
        self.store_error = ""
        return True

    def _finish(self) -> None:
        """At the sentinel: give waiting events ``give_up_s`` to be stored, then count them."""
        deadline = time.monotonic() + self._give_up_s
        while self._backlog and not self._flush():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(self._backlog.retry_s, left))
        if self._backlog:
            self._drop_waiting(
                self._backlog.take_all(), f"{self.store_error} (still failing at shutdown)"
            )
        self._record_counts()

    def _give_up(self, n: int, reason: str) -> None:
        with self._lock:
            if not self._abandoned:  # else stop() has counted it already
                self._count_unstored(n, reason)

    def _count_unstored(self, n: int, reason: str) -> None:
        self.unstored_total += n
        self.unstored_reasons[reason] += n
        if n > 0:
            log.error("%d event(s) could not be stored: %s", n, reason)

    def _record_counts(self) -> None:
        self._counts_on_disk.record(dropped=self.dropped_total, unstored=self.unstored_total)


class _CountsOnDisk:
    """The writer's drop and unstored totals mirrored into the outbox, written from the
    writer thread (the frame loop never touches the disk): ``streamer events stats`` in
    another process reads them. Apart from the writer because it only keeps what is
    already on disk and writes differences."""

    def __init__(self, outbox: Outbox, sinks: list[str]) -> None:
        self._outbox = outbox
        self._sinks = sinks
        self._recorded = Counter[str]()  # counters already persisted in the outbox

    def record(self, **totals: int) -> None:
        for name, total in totals.items():
            delta = total - self._recorded[name]
            # Negative after a shutdown gave up on events that were stored after all.
            if delta:
                try:
                    self._outbox.count(self._sinks, name, delta)
                    self._recorded[name] = total
                except Exception as exc:  # the in-memory count still reaches the summary
                    log.error("could not record %s events in the outbox: %s", name, exc)
