"""The durable outbox: SQLite in WAL mode, one delivery row per (event, sink).

An event counts as accepted only once it and its JPEGs are committed here. :class:`Outbox`
is the one handle the runtime, the writer and the senders share; it puts together the
parts, each in its own module:

- ``store``: the file, its schema, per-thread connections, transactions, the open-time
  check that moves a corrupt file aside;
- ``deliveries``: the hot path (add, the next batch for a sink, delivered/failed/dead);
- ``retention``: eviction by age (``ttl_days``) and size (``max_mb``);
- ``queries``: what the CLI and the monitor ask (ls, show, retry, purge, stats).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streamer.events.clips import StoredClip
from streamer.events.delivery_rows import Deliveries
from streamer.events.lock import OwnerLock
from streamer.events.queries import Queries
from streamer.events.record import EventRecord
from streamer.events.retention import OutboxRetention
from streamer.events.store import COUNTER_NAMES, SCHEMA, Store, corruption_of, unreadable

log = logging.getLogger("streamer.events")

__all__ = ["COUNTER_NAMES", "SCHEMA", "Outbox", "corruption_of", "unreadable"]


class Outbox:
    """Thread-safe handle on the outbox file; cheap to share between threads."""

    def __init__(
        self,
        path: str | Path,
        max_mb: float | None = None,
        ttl_days: float | None = None,
        repair: bool = False,
        busy_timeout_s: float = 30.0,
        owner: str | None = None,
    ) -> None:
        """Open (or create) the outbox; ``max_mb``/``ttl_days`` None means no limit.

        With ``repair`` (the runtime, not the read-only CLI) the file is checked first
        (``PRAGMA quick_check``): a corrupt one is moved aside under a dated name and a
        fresh one started, so one bad page cannot block every sink for ever.
        ``busy_timeout_s``: how long a write waits for another process's lock before it
        counts as failed. ``owner`` (``camera dock-3``): take the outbox's
        :class:`~streamer.events.lock.OwnerLock` for it, so no other process or camera can
        deliver from the same file (:class:`~streamer.events.lock.OutboxInUse`, exit 2);
        ``None`` for readers (the CLI, tests).
        """
        # The owner (the runtime delivering from it) holds the file alone: taken before the
        # repair check, which may move the file aside (issue 28, lock.py).
        self.owner_lock = OwnerLock.acquire(path, owner) if owner is not None else None
        try:
            self.store = Store(path, repair=repair, busy_timeout_s=busy_timeout_s,
                               keeps_time=owner is not None)
        except BaseException:
            if self.owner_lock is not None:
                self.owner_lock.release()
            raise
        self.deliveries = Deliveries(self.store)
        self.retention = OutboxRetention(self.store, max_mb, ttl_days)
        self.queries = Queries(self.store)
        self.path = self.store.path
        self.moved_aside = self.store.moved_aside
        self.max_bytes = self.retention.max_bytes
        self.ttl_s = self.retention.ttl_s
        # The hot path, named as before so callers need no change.
        self.mark_delivered = self.deliveries.mark_delivered
        self.mark_dead = self.deliveries.mark_dead
        self.mark_failed = self.deliveries.mark_failed
        self.count = self.deliveries.count
        self.counts = self.deliveries.counts
        self.pending = self.deliveries.pending
        self.backlog = self.deliveries.backlog
        self.pending_total = self.deliveries.pending_total
        self.enforce_limits = self.retention.enforce
        self.used_bytes = self.store.used_bytes
        self.events_total = self.store.events_total
        self.get = self.queries.get
        self.list_events = self.queries.list_events
        self.retry = self.queries.retry
        self.purge = self.queries.purge
        self.dead = self.queries.dead

    def close(self) -> None:
        """Save the outbox's clock, close every thread's connection, give up ownership."""
        try:
            self.store.save_run_clock()
        except sqlite3.Error as exc:  # closing must go on: the clock loses this run's tail
            log.warning("outbox: could not save its clock: %s", exc)
        self.store.close()
        if self.owner_lock is not None:
            self.owner_lock.release()

    def add(self, record: EventRecord, sinks: Iterable[str]) -> None:
        """Commit an event, its images and a pending delivery per sink, atomically; the
        limits are applied every few adds."""
        self.deliveries.add(record, sinks)
        self.retention.added(sum(len(image) for image in record.images) + len(str(record.payload)))

    def attach_clip(self, event_id: str, mp4: bytes | None, meta: dict[str, Any]) -> bool:
        """Store an event's clip (``mp4`` None: failed, ``meta["reason"]``); False when
        the event is not here. Its bytes count against ``max_mb`` at once."""
        attached = self.deliveries.attach_clip(event_id, mp4, meta)
        if attached:
            self.retention.added(len(mp4 or b""), events=0)
        return attached

    def clip(self, event_id: str) -> StoredClip | None:
        """An event's clip with its MP4 (while ``ready``), or None when it has none."""
        return self.store.clip(event_id)

    def clip_states(self, event_ids: list[str], now: float | None = None) -> dict[str, str]:
        """``{eventId: state}`` for those of ``event_ids`` with a clip, as the page shows
        them: ``recording``, ``ready``, ``failed``, or ``overdue`` (still recording past
        its due time: sinks went on without it)."""
        return self.queries.clip_states(event_ids, now)

    def count_dropped(self, sinks: Iterable[str], n: int = 1) -> None:
        """Record events the frame loop could not hand over (full queue): never silent."""
        self.deliveries.count(sinks, "dropped", n)

    def stats(self, now: float | None = None) -> dict[str, object]:
        """Counters per sink for ``streamer events stats`` and the monitor (see Queries)."""
        return self.queries.stats(now, self.max_bytes)
