"""The outbox's hot path: accept an event, hand a sink its next batch, record the answer.

Each sink acknowledges separately; an event leaves a sink's queue only as ``delivered``
or as ``dead`` with the reason, so every accepted event is always accounted for. Every
write is one short ``BEGIN IMMEDIATE`` transaction of the :class:`Store`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from streamer.events.record import EventRecord
from streamer.events.store import EVENT_COLUMNS, Store, bump, unreadable

log = logging.getLogger("streamer.events")


class Deliveries:
    """Per-(event, sink) delivery rows: what the writer adds and the senders work off."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, record: EventRecord, sinks: Iterable[str]) -> None:
        """Commit an event, its images and a pending delivery per sink, atomically."""
        with self._store.transaction() as conn:
            insert_event(conn, record, sinks, self._store.run_s())

    def attach_clip(self, event_id: str, mp4: bytes | None, meta: dict[str, Any]) -> bool:
        """Store an event's clip (``mp4`` None: ``failed``, ``meta["reason"]`` says why),
        merging ``meta`` into what the plan wrote; False when the event is not in the
        outbox (never stored, or already evicted)."""
        state = "failed" if mp4 is None else "ready"
        with self._store.transaction() as conn:
            row = conn.execute("SELECT meta FROM clips WHERE event_id = ?", (event_id,)).fetchone()
            if row is None:
                if conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone() is None:
                    return False
                merged = dict(meta)
                conn.execute(
                    "INSERT INTO clips (event_id, state, due_ts, meta) VALUES (?, 'recording', ?, '{}')",
                    (event_id, time.time()),
                )
            else:
                merged = {**json.loads(row[0] or "{}"), **meta}
            conn.execute(
                "UPDATE clips SET state = ?, mp4 = ?, meta = ? WHERE event_id = ?",
                (state, None if mp4 is None else sqlite3.Binary(mp4),
                 json.dumps(merged, separators=(",", ":"), default=str), event_id),
            )
        return True

    def count(self, sinks: Iterable[str], name: str, n: int = 1) -> None:
        """Add ``n`` to a cumulative counter of each sink (``COUNTER_NAMES``)."""
        with self._store.transaction() as conn:
            for sink in sinks:
                bump(conn, sink, name, n)

    def mark_delivered(self, sink: str, event_ids: Iterable[str]) -> None:
        self._set_state(sink, list(event_ids), "delivered", None)

    def mark_dead(self, sink: str, event_id: str, reason: str) -> None:
        self._set_state(sink, [event_id], "dead", reason)

    def mark_failed(self, sink: str, event_id: str, reason: str) -> None:
        """A retryable failure: stays pending, the attempt and reason are recorded."""
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, updated_ts = ? "
                "WHERE event_id = ? AND sink = ? AND state = 'pending'",
                (reason, time.time(), event_id, sink),
            )
            bump(conn, sink, "retried")

    def _set_state(self, sink: str, event_ids: list[str], state: str, reason: str | None) -> None:
        now = time.time()
        with self._store.transaction() as conn:
            changed = 0
            for event_id in event_ids:
                # Only a pending delivery moves: a late answer must not undo a CLI purge
                # or count one event twice.
                changed += conn.execute(
                    "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?, "
                    "updated_ts = ? WHERE event_id = ? AND sink = ? AND state = 'pending'",
                    (state, reason, now, event_id, sink),
                ).rowcount
            if changed:
                bump(conn, sink, state, changed)

    def pending(
        self, sink: str, limit: int = 50, newest: int = 0, clips: bool = False,
        now: float | None = None,
    ) -> list[EventRecord]:
        """The next batch for ``sink``: its ``newest`` most recent pending events plus its
        oldest ones up to ``limit``, in time order.

        With ``clips`` (a sink that carries them) an event whose clip is still recording
        and not yet due (``now`` < ``due_ts``) is held back, so events behind it may go
        first; each record comes with ``stored_clip`` (its MP4 when ready).

        ``newest`` 0 drains a backlog strictly in order. Above 0 it interleaves both ends
        (issue 14): an alert raised during hours of backlog goes out with the next batch,
        while the oldest, which ``ttl_days`` and the quota would evict first, still move
        on every batch, so neither end starves.

        An event that cannot be read back (a corrupt page, a payload that no longer
        parses) is quarantined: dead for this sink with the reason, so the rest flows.
        """
        conn = self._store.conn()
        now = time.time() if now is None else now
        newest = max(0, min(newest, limit))
        select = (
            "SELECT e.event_id, e.created_ts, e.rule_id, e.payload, e.rowid AS r FROM deliveries d "
            "JOIN events e ON e.event_id = d.event_id WHERE d.sink = ? AND d.state = 'pending' "
        )
        params: tuple[object, ...] = (sink,)
        if clips:
            select += (
                "AND NOT EXISTS (SELECT 1 FROM clips c WHERE c.event_id = e.event_id "
                "AND c.state = 'recording' AND c.due_ts > ?) "
            )
            params = (sink, now)
        try:
            # Both ends together hold every pending event when fewer than ``limit`` wait;
            # UNION drops the overlap.
            rows = [row[:4] for row in conn.execute(
                f"SELECT * FROM ({select} ORDER BY e.created_ts DESC, e.rowid DESC LIMIT ?) "
                f"UNION SELECT * FROM ({select} ORDER BY e.created_ts, e.rowid LIMIT ?) "
                "ORDER BY 2, 5",
                (*params, newest, *params, limit - newest),
            ).fetchall()]
        except sqlite3.Error as exc:
            if not unreadable(exc):
                raise
            return self._pending_one_by_one(conn, sink, limit, clips, now)
        return self._readable_all(
            sink, [(row[0], partial(self._record_of, conn, row, clips)) for row in rows]
        )

    def _record_of(self, conn: sqlite3.Connection, row: tuple[Any, ...], clips: bool) -> EventRecord:
        """The event of an ``EVENT_COLUMNS`` row, with its clip for a sink that carries clips."""
        return self._with_clip(conn, self._store.record(conn, row), clips)

    def _with_clip(self, conn: sqlite3.Connection, record: EventRecord, clips: bool) -> EventRecord:
        """``record`` with its stored clip, for a sink that carries clips."""
        if not clips:
            return record
        return replace(record, stored_clip=self._store.clip(record.event_id, conn=conn))

    def _pending_one_by_one(
        self, conn: sqlite3.Connection, sink: str, limit: int, clips: bool, now: float
    ) -> list[EventRecord]:
        """The slow path past a corrupt page: ids from the deliveries, then each event."""
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT event_id FROM deliveries WHERE sink = ? AND state = 'pending' "
                "ORDER BY updated_ts LIMIT ?",
                (sink, limit),
            )
        ]
        reads = [(event_id, partial(self._fetch, conn, event_id, clips)) for event_id in ids]
        records = self._readable_all(sink, reads)
        return [r for r in records if r.stored_clip is None or not r.stored_clip.held(now)]

    def _fetch(self, conn: sqlite3.Connection, event_id: str, clips: bool) -> EventRecord:
        record = self._store.get(event_id, conn)
        if record is None:
            raise ValueError("the event row is missing")
        return self._with_clip(conn, record, clips)

    def _readable_all(
        self, sink: str, reads: Sequence[tuple[str, Callable[[], EventRecord]]]
    ) -> list[EventRecord]:
        """The records that read back; each one that does not is quarantined (dead)."""
        out = []
        for event_id, read in reads:
            try:
                out.append(read())
            except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
                if isinstance(exc, sqlite3.Error) and not unreadable(exc):
                    raise
                reason = f"stored event cannot be read back: {exc}"
                log.error("outbox: event %s quarantined for sink %s (dead): %s", event_id, sink, reason)
                self.mark_dead(sink, event_id, reason)
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """``{sink: {"pending": n, "delivered": n, "dead": n}}``."""
        out: dict[str, dict[str, int]] = {}
        for sink, state, count in self._store.conn().execute(
            "SELECT sink, state, COUNT(*) FROM deliveries GROUP BY sink, state"
        ):
            out.setdefault(sink, {"pending": 0, "delivered": 0, "dead": 0})[state] = count
        return out

    def backlog(self, sink: str) -> tuple[int, float | None]:
        """``(pending events, created_ts of the oldest or None)`` for one sink: cheap
        enough for every ``/api/status`` read (the (sink, state) index)."""
        count, oldest = self._store.conn().execute(
            "SELECT COUNT(*), MIN(e.created_ts) FROM deliveries d JOIN events e "
            "ON e.event_id = d.event_id WHERE d.sink = ? AND d.state = 'pending'",
            (sink,),
        ).fetchone()
        return int(count), oldest

    def pending_total(self, sinks: Iterable[str] | None = None) -> int:
        counts = self.counts()
        names = counts.keys() if sinks is None else sinks
        return sum(counts.get(name, {}).get("pending", 0) for name in names)


def insert_event(conn: sqlite3.Connection, record: EventRecord, sinks: Iterable[str],
                 born_run_s: float) -> None:
    """An event, its images and a pending delivery per sink, inside the caller's
    transaction (so an operator's verdict and its feedback event commit together).
    ``born_run_s``: the outbox's clock now (:meth:`Store.run_s`), what its age counts from."""
    now = time.time()
    sinks = list(sinks)
    conn.execute(
        f"INSERT INTO events ({EVENT_COLUMNS}, born_run_s) VALUES (?, ?, ?, ?, ?)",
        (record.event_id, record.created_ts or now, record.rule_id,
         json.dumps(record.payload, separators=(",", ":")), born_run_s),
    )
    conn.executemany(
        "INSERT INTO images (event_id, idx, jpeg) VALUES (?, ?, ?)",
        [(record.event_id, i, sqlite3.Binary(jpeg)) for i, jpeg in enumerate(record.images)],
    )
    conn.executemany(
        "INSERT INTO deliveries (event_id, sink, state, updated_ts) "
        "VALUES (?, ?, 'pending', ?)",
        [(record.event_id, sink, now) for sink in sinks],
    )
    if record.clip is not None:
        plan = record.clip
        conn.execute(
            "INSERT INTO clips (event_id, state, due_ts, meta) VALUES (?, 'recording', ?, ?)",
            (record.event_id, plan.due_ts, json.dumps(
                {"pre_s": plan.pre_s, "post_s": plan.post_s, "annotated": plan.annotated},
                separators=(",", ":"))),
        )
    for sink in sinks:
        bump(conn, sink, "accepted")
