"""The durable outbox: SQLite in WAL mode, one delivery row per (event, sink).

An event counts as accepted only once it and its JPEGs are committed here. Each sink
acknowledges separately; an event leaves a sink's queue only as ``delivered`` or as
``dead`` with the reason, so every accepted event is always accounted for.

Each thread gets its own connection (sqlite3 connections are not shared between
threads); WAL lets the CLI read while the runtime writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from streamer.errors import SinkError
from streamer.events.record import EventRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    created_ts REAL NOT NULL,
    rule_id    TEXT NOT NULL,
    payload    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    event_id TEXT NOT NULL REFERENCES events(event_id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    jpeg     BLOB NOT NULL,
    PRIMARY KEY (event_id, idx)
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id   TEXT NOT NULL REFERENCES events(event_id) ON DELETE CASCADE,
    sink       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_ts REAL NOT NULL,
    PRIMARY KEY (event_id, sink)
);
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (sink, state);
"""


class Outbox:
    """Thread-safe handle on the outbox file; cheap to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn().executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"outbox.path: cannot open {self.path}: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed event survives a power cut, not only a process crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- writing ------------------------------------------------------------------

    def add(self, record: EventRecord, sinks: Iterable[str]) -> None:
        """Commit an event, its images and a pending delivery per sink, atomically."""
        now = time.time()
        conn = self._conn()
        with _transaction(conn):
            conn.execute(
                "INSERT INTO events (event_id, created_ts, rule_id, payload) VALUES (?, ?, ?, ?)",
                (record.event_id, record.created_ts or now, record.rule_id,
                 json.dumps(record.payload, separators=(",", ":"))),
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

    def mark_delivered(self, sink: str, event_ids: Iterable[str]) -> None:
        self._set_state(sink, event_ids, "delivered", None)

    def mark_dead(self, sink: str, event_id: str, reason: str) -> None:
        self._set_state(sink, [event_id], "dead", reason)

    def mark_failed(self, sink: str, event_id: str, reason: str) -> None:
        """A retryable failure: stays pending, the attempt and reason are recorded."""
        conn = self._conn()
        with _transaction(conn):
            conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, updated_ts = ? "
                "WHERE event_id = ? AND sink = ? AND state = 'pending'",
                (reason, time.time(), event_id, sink),
            )

    def _set_state(self, sink: str, event_ids: Iterable[str], state: str, reason: str | None) -> None:
        now = time.time()
        conn = self._conn()
        with _transaction(conn):
            conn.executemany(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?, "
                "updated_ts = ? WHERE event_id = ? AND sink = ?",
                [(state, reason, now, event_id, sink) for event_id in event_ids],
            )

    # --- reading ------------------------------------------------------------------

    def pending(self, sink: str, limit: int = 50) -> list[EventRecord]:
        """Oldest pending events for ``sink`` first, so a backlog drains in order."""
        conn = self._conn()
        rows = conn.execute(
            "SELECT e.event_id, e.created_ts, e.rule_id, e.payload FROM deliveries d "
            "JOIN events e ON e.event_id = d.event_id "
            "WHERE d.sink = ? AND d.state = 'pending' ORDER BY e.created_ts, e.rowid LIMIT ?",
            (sink, limit),
        ).fetchall()
        records = []
        for event_id, created_ts, rule_id, payload in rows:
            images = [
                bytes(jpeg)
                for (jpeg,) in conn.execute(
                    "SELECT jpeg FROM images WHERE event_id = ? ORDER BY idx", (event_id,)
                )
            ]
            records.append(
                EventRecord(
                    event_id=event_id,
                    payload=json.loads(payload),
                    images=images,
                    created_ts=created_ts,
                    rule_id=rule_id,
                )
            )
        return records

    def counts(self) -> dict[str, dict[str, int]]:
        """``{sink: {"pending": n, "delivered": n, "dead": n}}``."""
        out: dict[str, dict[str, int]] = {}
        for sink, state, count in self._conn().execute(
            "SELECT sink, state, COUNT(*) FROM deliveries GROUP BY sink, state"
        ):
            out.setdefault(sink, {"pending": 0, "delivered": 0, "dead": 0})[state] = count
        return out

    def pending_total(self, sinks: Iterable[str] | None = None) -> int:
        counts = self.counts()
        names = counts.keys() if sinks is None else sinks
        return sum(counts.get(name, {}).get("pending", 0) for name in names)

    def events_total(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def dead(self, sink: str | None = None) -> list[tuple[str, str, str]]:
        """``(event_id, sink, reason)`` of dead deliveries."""
        query = "SELECT event_id, sink, COALESCE(last_error, '') FROM deliveries WHERE state = 'dead'"
        args: tuple[str, ...] = ()
        if sink is not None:
            query += " AND sink = ?"
            args = (sink,)
        return [tuple(row) for row in self._conn().execute(query, args)]  # type: ignore[misc]


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: one writer at a time, rolled back on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
