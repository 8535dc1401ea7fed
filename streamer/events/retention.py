"""The outbox's limits: events past their age (``ttl_days``) or over the quota (``max_mb``).

Fully delivered events go first; only then the oldest not yet delivered, each such loss
counted per sink as ``evicted`` and logged (rule 2: never silent). An event's clip (issue
17) counts against the quota and leaves with it (``ON DELETE CASCADE``).
"""

from __future__ import annotations

import logging
import sqlite3
import time

from streamer.events.store import Store, bump

log = logging.getLogger("streamer.events")

# The quota is checked every this many adds (and at open): one PRAGMA pair is cheap, but
# not free on an SD card.
CHECK_EVERY_ADDS = 20
# ... and sooner once this share of the quota was written since the last check: one
# event's clip may be megabytes, so twenty of them could overshoot a small quota.
CHECK_EVERY_SHARE = 0.02


class OutboxRetention:
    """Applies ``max_mb``/``ttl_days`` (None: no limit) to one store."""

    def __init__(self, store: Store, max_mb: float | None = None, ttl_days: float | None = None) -> None:
        self._store = store
        self.max_bytes = int(max_mb * 1024 * 1024) if max_mb else None
        self.ttl_s = ttl_days * 86400.0 if ttl_days else None
        self._adds_since_check = 0
        self._bytes_since_check = 0

    def added(self, nbytes: int = 0, events: int = 1) -> None:
        """``events`` more events (or a clip, ``events`` 0) of about ``nbytes`` were
        committed: apply the limits every ``CHECK_EVERY_ADDS`` events or once
        ``CHECK_EVERY_SHARE`` of the quota was written."""
        self._adds_since_check += events
        self._bytes_since_check += nbytes
        big = self.max_bytes is not None and self._bytes_since_check >= self.max_bytes * CHECK_EVERY_SHARE
        if self._adds_since_check >= CHECK_EVERY_ADDS or big:
            try:
                self.enforce()
            except sqlite3.Error as exc:  # the event is committed: its add succeeded
                log.warning("outbox: could not apply its limits now: %s", exc)

    def enforce(self, now: float | None = None, run_s: float | None = None) -> int:
        """Drop events past ``ttl_days``, then shrink under ``max_mb``; returns events removed.

        An event is past its age only when it is by the wall clock (``now``, its
        ``created_ts``) *and* by the outbox's own clock (``run_s``, seconds its owner ran
        since the event was stored, :meth:`Store.run_s`). A wall clock that was days
        behind when events were stored, and is right now, made them look days old: they
        were evicted before any sink had them (issue 28). The outbox's clock cannot jump,
        and it stands still while nothing runs, so a wrong clock can delay an eviction but
        never cause one.
        """
        self._adds_since_check = 0
        self._bytes_since_check = 0
        removed = 0
        now = time.time() if now is None else now
        run_s = self._store.run_s() if run_s is None else run_s
        self._store.save_run_clock()
        if self.ttl_s is not None:
            old = [
                row[0]
                for row in self._store.conn().execute(
                    "SELECT event_id FROM events WHERE created_ts < ? AND COALESCE(born_run_s, ?) < ? "
                    "ORDER BY created_ts",
                    (now - self.ttl_s, run_s, run_s - self.ttl_s),
                )
            ]
            if old:
                removed += self._evict(old, f"older than {self.ttl_s / 86400:g} days")
        if self.max_bytes is None:
            return removed
        while self._store.used_bytes() > self.max_bytes:
            victims = self._candidates(50)
            if not victims:
                break
            removed += self._evict(victims, f"outbox over its {self.max_bytes / 2**20:g} MB quota")
        return removed

    def _candidates(self, limit: int) -> list[str]:
        conn = self._store.conn()
        done = [
            row[0]
            for row in conn.execute(
                "SELECT e.event_id FROM events e WHERE NOT EXISTS (SELECT 1 FROM deliveries d "
                "WHERE d.event_id = e.event_id AND d.state != 'delivered') "
                "ORDER BY e.created_ts LIMIT ?",
                (limit,),
            )
        ]
        if done:
            return done
        # An undelivered event is a loss: one at a time, no more than the quota needs.
        return [
            row[0]
            for row in conn.execute("SELECT event_id FROM events ORDER BY created_ts, rowid LIMIT 1")
        ]

    def _evict(self, event_ids: list[str], why: str) -> int:
        lost: dict[str, int] = {}
        with self._store.transaction() as conn:
            for event_id in event_ids:
                for sink, state in conn.execute(
                    "SELECT sink, state FROM deliveries WHERE event_id = ?", (event_id,)
                ).fetchall():
                    if state != "delivered":
                        lost[sink] = lost.get(sink, 0) + 1
                        bump(conn, sink, "evicted")
                        log.warning(
                            "outbox: evicted event %s before sink %s had it (%s; was %s)",
                            event_id, sink, why, state,
                        )
                conn.execute("DELETE FROM events WHERE event_id = ?", (event_id,))
        if not lost:
            log.info("outbox: removed %d delivered event(s) (%s)", len(event_ids), why)
        return len(event_ids)
