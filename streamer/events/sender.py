"""Sender threads: one per sink, delivering from the outbox, never touching the frame loop.

A failed delivery stays pending and the sink backs off (1 s doubling to 5 min, jittered,
with the shared :class:`~streamer.backoff.Backoff`; or the server's ``Retry-After``). The
backoff resets on every successful send (docs/architecture.md, "Measured": one that resets only after a whole
round succeeds never drains under a 30-40 % failure rate). An answer that is final for an
event (a 4xx other than 408/429/401/403, see :func:`streamer.sinks.http.outcome`) sends it
to ``dead`` with the reason; a pause (refused key, redirect) keeps every event and shows
the sink's status.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from streamer.backoff import Backoff
from streamer.events.outbox import Outbox
from streamer.events.sink_contract import Delivered, Paused, Retry, Sink
from streamer.redact import redact

log = logging.getLogger("streamer.events")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0
# A sink that carries clips (issue 17) reads each event's MP4 with it: a few megabytes
# each, so its batches stay small.
CLIP_BATCH = 5


class Sender:
    """Delivers one sink's pending events until ``stop()``.

    ``wake()`` (called by the writer after each commit) cuts an idle wait short.
    """

    def __init__(
        self,
        sink: Sink,
        outbox: Outbox,
        batch_size: int | None = None,
        idle_s: float = 1.0,
        backoff_start_s: float = BACKOFF_START_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.sink = sink
        self._outbox = outbox
        self._batch_size = batch_size or sink.batch_size
        # A sink that carries clips holds an event back while its clip is still recording
        # (until it is due), and gets each event's stored clip with it.
        self._clips = sink.carries_clips
        if self._clips:
            self._batch_size = min(self._batch_size, CLIP_BATCH)
        # A network sink (fresh_first) takes half of each batch from the newest end of a
        # backlog, so a new alert is not queued behind hours of history (issue 14); a file
        # sink keeps strict time order, since its file is the record and drains fast.
        self._newest = self._batch_size // 2 if sink.fresh_first else 0
        # Events per second of sending time (EWMA over batches), for the drain estimate.
        self._rate_per_s: float | None = None
        self._idle_s = idle_s
        self._backoff = Backoff(backoff_start_s, backoff_max_s)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sender-{sink.name}", daemon=True)
        self._backoff_s = 0.0  # the wait now in force; 0 while deliveries succeed
        self.delivered_total = 0
        self.retried_total = 0
        self.dead_total = 0
        # Files a file sink removed to keep to its limits (its ``evicted_total``), copied
        # into the outbox's ``files_evicted`` counter for `streamer events stats`.
        self.files_evicted_total = 0
        self.last_error = ""
        self.paused_reason = ""
        self.last_progress_ts = time.time()

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> bool:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def backing_off(self) -> bool:
        return self._backoff_s > 0

    @property
    def status(self) -> str:
        """One line for progress, the summary and the monitor."""
        if self.paused_reason:
            return f"paused: {self.paused_reason} (events kept)"
        if self._backoff_s:
            return f"retrying in {self._backoff_s:.0f} s after: {self.last_error}"
        return "ok"

    def backlog(self, now: float | None = None) -> dict[str, object]:
        """The sink's backlog for ``/api/status`` and the page: ``backlog`` (pending events),
        ``backlog_age_s`` (age of the oldest, None when none), ``drain_rate_per_s`` (events
        per second while sending, recent batches) and ``drain_eta_s`` (backlog / rate; None
        while paused, backing off or not yet measured: it would not drain at that rate).

        Reads the outbox on the calling thread (the monitor's), not the sender's.
        """
        now = time.time() if now is None else now
        count, oldest_ts = self._outbox.backlog(self.sink.name)
        rate = self._rate_per_s
        eta: float | None = None
        if count == 0:
            eta = 0.0
        elif rate and not self._backoff_s and not self.paused_reason:
            eta = round(count / rate, 1)
        return {
            "backlog": count,
            "backlog_age_s": None if oldest_ts is None else round(max(0.0, now - oldest_ts), 1),
            "drain_rate_per_s": None if rate is None else round(rate, 1),
            "drain_eta_s": eta,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self._step()
            except sqlite3.Error as exc:  # the outbox's disk, not a bug: one line, no traceback
                log.error("sink %s: cannot update the outbox: %s", self.sink.name, exc)
                self._fail(f"outbox: {exc}", None)
                worked = False
            except Exception as exc:  # a bug in a sink costs one batch, not the thread
                log.exception("sink %s: unexpected error: %s", self.sink.name, redact(exc))
                self._fail("internal error", None)
                worked = False
            if not worked:
                if self._backoff_s:
                    # New events must not cut a backoff short: that would hammer a
                    # server that is down at the rate events arrive.
                    self._stop.wait(self._backoff_s)
                else:
                    self._wake.wait(self._idle_s)
                    self._wake.clear()

    def _step(self) -> bool:
        """Send one batch; True when more may be waiting and no backoff applies."""
        batch = self._outbox.pending(self.sink.name, self._batch_size, self._newest, clips=self._clips)
        if not batch:
            return False
        started = time.monotonic()
        outcomes = self.sink.send(batch)
        sent_s = time.monotonic() - started
        self._record_evictions()
        delivered: list[str] = []
        failure: Retry | Paused | None = None
        for record in batch:
            outcome = outcomes.get(record.event_id) or Retry("the sink gave no outcome")
            if isinstance(outcome, Delivered):
                delivered.append(record.event_id)
            elif isinstance(outcome, (Retry, Paused)):
                self._outbox.mark_failed(self.sink.name, record.event_id, outcome.reason)
                self.retried_total += 1
                failure = failure or outcome
            else:
                self._outbox.mark_dead(self.sink.name, record.event_id, outcome.reason)
                self.dead_total += 1
                log.error(
                    "sink %s refused event %s for good: %s",
                    self.sink.name, record.event_id, outcome.reason,
                )
        if delivered:
            self._outbox.mark_delivered(self.sink.name, delivered)
            self.delivered_total += len(delivered)
            self.last_progress_ts = time.time()
            self._measure(len(delivered), sent_s)
            self.paused_reason = ""
            # docs/architecture.md, "Measured": the backoff resets on every success, even one beside a failure,
            # else a 30-40 % failure rate never drains.
            if self._backoff_s:
                log.info("sink %s: delivering again", self.sink.name)
            self._backoff_s = 0.0
            self._backoff.reset()
        if failure is not None:
            paused = isinstance(failure, Paused)
            if paused and failure.reason != self.paused_reason:
                log.error(
                    "sink %s paused: %s; events are kept and retried every few minutes",
                    self.sink.name, failure.reason,
                )
            self.paused_reason = failure.reason if paused else ""
            self._fail(failure.reason, failure.after_s)
            return False
        self._backoff_s = 0.0
        self._backoff.reset()
        return True

    def _measure(self, delivered: int, sent_s: float) -> None:
        """Fold one batch's rate into the estimate; a weight of 0.3 follows a changing
        uplink within a few batches without jumping on one slow answer."""
        rate = delivered / max(sent_s, 1e-3)
        previous = self._rate_per_s
        self._rate_per_s = rate if previous is None else 0.7 * previous + 0.3 * rate

    def _record_evictions(self) -> None:
        evicted = self.sink.evicted_total
        if evicted > self.files_evicted_total:
            try:
                self._outbox.count([self.sink.name], "files_evicted", evicted - self.files_evicted_total)
            except sqlite3.Error as exc:  # the batch's outcomes matter more; next batch retries
                log.error("sink %s: cannot count evicted files in the outbox: %s", self.sink.name, exc)
                return
            self.files_evicted_total = evicted

    def _fail(self, reason: str, retry_after_s: float | None) -> None:
        if retry_after_s is not None and retry_after_s >= 0:
            # The server's word wins over our own (shorter) schedule, up to the 5 min cap.
            self._backoff_s = min(retry_after_s, BACKOFF_MAX_S)
            self._backoff.hold(self._backoff_s)
        else:
            self._backoff_s = self._backoff.next_delay()
        if reason != self.last_error:
            log.warning(
                "sink %s: delivery failed (%s); events kept, retrying in %.1f s",
                self.sink.name, reason, self._backoff_s,
            )
        self.last_error = reason
