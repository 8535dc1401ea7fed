"""The durable outbox: SQLite in WAL mode, one delivery row per (event, sink).

An event counts as accepted only once it and its JPEGs are committed here. Each sink
acknowledges separately; an event leaves a sink's queue only as ``delivered`` or as
``dead`` with the reason, so every accepted event is always accounted for.

Each thread gets its own connection (sqlite3 connections are not shared between
threads); WAL lets the CLI read while the runtime writes.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from streamer.errors import SinkError
from streamer.events.record import EventRecord

log = logging.getLogger("streamer.events")

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
CREATE INDEX IF NOT EXISTS events_by_time ON events (created_ts);
-- Cumulative per-sink counters; kept here (not in memory) so `streamer events stats`
-- in another process and a restarted runtime see the same numbers.
CREATE TABLE IF NOT EXISTS counters (
    sink  TEXT NOT NULL,
    name  TEXT NOT NULL,
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sink, name)
);
"""

COUNTER_NAMES = (
    "accepted", "delivered", "retried", "dead", "evicted", "dropped", "unstored", "files_evicted",
)
# The quota is checked every this many adds (and at open): one PRAGMA pair is cheap, but
# not free on an SD card.
_CHECK_EVERY_ADDS = 20


class Outbox:
    """Thread-safe handle on the outbox file; cheap to share between threads."""

    def __init__(
        self,
        path: str | Path,
        max_mb: float | None = None,
        ttl_days: float | None = None,
        repair: bool = False,
    ) -> None:
        """Open (or create) the outbox; ``max_mb``/``ttl_days`` None means no limit.

        With ``repair`` (the runtime, not the read-only CLI) the file is checked first
        (``PRAGMA quick_check``): a corrupt one is moved aside under a dated name and a
        fresh one started, so one bad page cannot block every sink for ever.
        """
        self.path = Path(path)
        self.max_bytes = int(max_mb * 1024 * 1024) if max_mb else None
        self.ttl_s = ttl_days * 86400.0 if ttl_days else None
        self._local = threading.local()
        self._adds_since_check = 0
        # Where a corrupt outbox was moved at open (``repair``), else None.
        self.moved_aside: Path | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if repair and self.path.exists():
                self._check_or_move_aside()
            self._conn().executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"outbox.path: cannot open {self.path}: {exc}") from None

    def _check_or_move_aside(self) -> None:
        problem = corruption_of(self.path)
        if problem is None:
            return
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        # The WAL and its index travel with the file, under the names SQLite expects.
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, Path(f"{aside}{suffix}"))
        self.moved_aside = aside
        log.warning(
            "outbox %s is corrupt (%s): moved it aside to %s and started a fresh one; events "
            "still pending in it are not sent (`sqlite3 %s .recover` may salvage them)",
            self.path, problem, aside.name, aside.name,
        )

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
            for sink in sinks:
                _bump(conn, sink, "accepted")
        self._adds_since_check += 1
        if self._adds_since_check >= _CHECK_EVERY_ADDS:
            try:
                self.enforce_limits()
            except sqlite3.Error as exc:  # the event is committed: its add succeeded
                log.warning("outbox: could not apply its limits now: %s", exc)

    def count(self, sinks: Iterable[str], name: str, n: int = 1) -> None:
        """Add ``n`` to a cumulative counter of each sink (``COUNTER_NAMES``)."""
        conn = self._conn()
        with _transaction(conn):
            for sink in sinks:
                _bump(conn, sink, name, n)

    def count_dropped(self, sinks: Iterable[str], n: int = 1) -> None:
        """Record events the frame loop could not hand over (full queue): never silent."""
        self.count(sinks, "dropped", n)

    def mark_delivered(self, sink: str, event_ids: Iterable[str]) -> None:
        self._set_state(sink, list(event_ids), "delivered", None)

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
            _bump(conn, sink, "retried")

    def _set_state(self, sink: str, event_ids: list[str], state: str, reason: str | None) -> None:
        now = time.time()
        conn = self._conn()
        with _transaction(conn):
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
                _bump(conn, sink, state, changed)

    # --- quota and age ------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes of live pages (the file does not shrink; freed pages are reused)."""
        conn = self._conn()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def enforce_limits(self, now: float | None = None) -> int:
        """Drop events past ``ttl_days``, then shrink under ``max_mb``; returns events removed.

        Fully delivered events go first; only then the oldest not yet delivered, each
        such loss counted per sink as ``evicted`` and logged (rule 2: never silent).
        """
        self._adds_since_check = 0
        removed = 0
        now = time.time() if now is None else now
        if self.ttl_s is not None:
            old = [
                row[0]
                for row in self._conn().execute(
                    "SELECT event_id FROM events WHERE created_ts < ? ORDER BY created_ts",
                    (now - self.ttl_s,),
                )
            ]
            if old:
                removed += self._evict(old, f"older than {self.ttl_s / 86400:g} days")
        if self.max_bytes is None:
            return removed
        while self.used_bytes() > self.max_bytes:
            victims = self._eviction_candidates(50)
            if not victims:
                break
            removed += self._evict(victims, f"outbox over its {self.max_bytes / 2**20:g} MB quota")
        return removed

    def _eviction_candidates(self, limit: int) -> list[str]:
        conn = self._conn()
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
        conn = self._conn()
        lost: dict[str, int] = {}
        with _transaction(conn):
            for event_id in event_ids:
                for sink, state in conn.execute(
                    "SELECT sink, state FROM deliveries WHERE event_id = ?", (event_id,)
                ).fetchall():
                    if state != "delivered":
                        lost[sink] = lost.get(sink, 0) + 1
                        _bump(conn, sink, "evicted")
                        log.warning(
                            "outbox: evicted event %s before sink %s had it (%s; was %s)",
                            event_id, sink, why, state,
                        )
                conn.execute("DELETE FROM events WHERE event_id = ?", (event_id,))
        if not lost:
            log.info("outbox: removed %d delivered event(s) (%s)", len(event_ids), why)
        return len(event_ids)

    # --- operator actions (the `streamer events` CLI) -----------------------------

    def retry(self, event_ids: Iterable[str] = (), dead: bool = False, sink: str | None = None) -> int:
        """Put deliveries back to pending: the given events' dead ones, or every dead one."""
        conn = self._conn()
        query = "UPDATE deliveries SET state = 'pending', updated_ts = ? WHERE state = 'dead'"
        args: list[object] = [time.time()]
        if sink is not None:
            query += " AND sink = ?"
            args.append(sink)
        changed = 0
        with _transaction(conn):
            if dead:
                changed = conn.execute(query, args).rowcount
            for event_id in event_ids:
                changed += conn.execute(query + " AND event_id = ?", [*args, event_id]).rowcount
        return changed

    def purge(self, dead: bool = False) -> int:
        """Delete events every sink has (and, with ``dead``, those only dead ones lack)."""
        done_states = ("delivered", "dead") if dead else ("delivered",)
        marks = ",".join("?" * len(done_states))
        conn = self._conn()
        with _transaction(conn):
            return conn.execute(
                "DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
                f"d.event_id = events.event_id AND d.state NOT IN ({marks}))",
                done_states,
            ).rowcount

    def list_events(
        self,
        state: str | None = None,
        sink: str | None = None,
        rule: str | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, object]]:
        """Events with each sink's delivery, newest last; filters combine with AND."""
        where = ["1=1"]
        args: list[object] = []
        if state is not None or sink is not None:
            sub = "SELECT 1 FROM deliveries d WHERE d.event_id = e.event_id"
            if state is not None:
                sub += " AND d.state = ?"
                args.append(state)
            if sink is not None:
                sub += " AND d.sink = ?"
                args.append(sink)
            where.append(f"EXISTS ({sub})")
        if rule is not None:
            where.append("e.rule_id = ?")
            args.append(rule)
        if since_ts is not None:
            where.append("e.created_ts >= ?")
            args.append(since_ts)
        if until_ts is not None:
            where.append("e.created_ts < ?")
            args.append(until_ts)
        query = (
            "SELECT e.event_id, e.created_ts, e.rule_id, e.payload FROM events e WHERE "
            + " AND ".join(where)
            + " ORDER BY e.created_ts, e.rowid"
        )
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        conn = self._conn()
        out = []
        for event_id, created_ts, rule_id, payload in conn.execute(query, args).fetchall():
            deliveries = {
                d_sink: {"state": d_state, "attempts": attempts, "last_error": last_error}
                for d_sink, d_state, attempts, last_error in conn.execute(
                    "SELECT sink, state, attempts, last_error FROM deliveries "
                    "WHERE event_id = ? ORDER BY sink",
                    (event_id,),
                )
            }
            out.append(
                {
                    "event_id": event_id,
                    "created_ts": created_ts,
                    "rule_id": rule_id,
                    "event_type": json.loads(payload).get("eventType"),
                    "deliveries": deliveries,
                }
            )
        return out

    def get(self, event_id: str) -> EventRecord | None:
        """One stored event with its JPEGs, or None."""
        conn = self._conn()
        row = conn.execute(
            "SELECT event_id, created_ts, rule_id, payload FROM events WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        return None if row is None else self._record(conn, row)

    def _record(self, conn: sqlite3.Connection, row: tuple) -> EventRecord:
        event_id, created_ts, rule_id, payload = row
        images = [
            bytes(jpeg)
            for (jpeg,) in conn.execute(
                "SELECT jpeg FROM images WHERE event_id = ? ORDER BY idx", (event_id,)
            )
        ]
        return EventRecord(
            event_id=event_id,
            payload=json.loads(payload),
            images=images,
            created_ts=created_ts,
            rule_id=rule_id,
        )

    def stats(self, now: float | None = None) -> dict[str, object]:
        """Counters per sink, JSON-friendly, for ``streamer events stats`` and the monitor.

        ``{"events": n, "used_mb": x, "max_mb": y, "sinks": {name: {accepted, delivered,
        retried, pending, dead, evicted, dropped, oldest_pending_age_s}}}``; ``pending``
        and ``dead`` are the current rows, the others cumulative over the outbox's life.
        """
        now = time.time() if now is None else now
        conn = self._conn()
        sinks: dict[str, dict[str, object]] = {}

        def entry(name: str) -> dict[str, object]:
            return sinks.setdefault(
                name,
                {**{key: 0 for key in COUNTER_NAMES}, "pending": 0, "oldest_pending_age_s": None},
            )

        for sink, name, value in conn.execute("SELECT sink, name, value FROM counters"):
            entry(sink)[name] = value
        for sink, state, count in conn.execute(
            "SELECT sink, state, COUNT(*) FROM deliveries WHERE state != 'delivered' "
            "GROUP BY sink, state"
        ):
            entry(sink)[state] = count
        for sink, oldest in conn.execute(
            "SELECT d.sink, MIN(e.created_ts) FROM deliveries d JOIN events e "
            "ON e.event_id = d.event_id WHERE d.state = 'pending' GROUP BY d.sink"
        ):
            entry(sink)["oldest_pending_age_s"] = round(max(0.0, now - oldest), 3)
        return {
            "events": self.events_total(),
            "used_mb": round(self.used_bytes() / 2**20, 3),
            "max_mb": None if self.max_bytes is None else round(self.max_bytes / 2**20, 3),
            "sinks": sinks,
        }

    # --- reading ------------------------------------------------------------------

    def pending(self, sink: str, limit: int = 50, newest: int = 0) -> list[EventRecord]:
        """The next batch for ``sink``: its ``newest`` most recent pending events plus its
        oldest ones up to ``limit``, in time order.

        ``newest`` 0 drains a backlog strictly in order. Above 0 it interleaves both ends
        (issue 14): an alert raised during hours of backlog goes out with the next batch,
        while the oldest, which ``ttl_days`` and the quota would evict first, still move
        on every batch, so neither end starves.

        An event that cannot be read back (a corrupt page, a payload that no longer
        parses) is quarantined: dead for this sink with the reason, so the rest flows.
        """
        conn = self._conn()
        newest = max(0, min(newest, limit))
        select = (
            "SELECT e.event_id, e.created_ts, e.rule_id, e.payload, e.rowid AS r FROM deliveries d "
            "JOIN events e ON e.event_id = d.event_id WHERE d.sink = ? AND d.state = 'pending' "
        )
        try:
            # Both ends together hold every pending event when fewer than ``limit`` wait;
            # UNION drops the overlap.
            rows = [row[:4] for row in conn.execute(
                f"SELECT * FROM ({select} ORDER BY e.created_ts DESC, e.rowid DESC LIMIT ?) "
                f"UNION SELECT * FROM ({select} ORDER BY e.created_ts, e.rowid LIMIT ?) "
                "ORDER BY 2, 5",
                (sink, newest, sink, limit - newest),
            ).fetchall()]
        except sqlite3.Error as exc:
            if not unreadable(exc):
                raise
            return self._pending_one_by_one(conn, sink, limit)
        out = []
        for row in rows:
            record = self._readable(conn, sink, row[0], lambda row=row: self._record(conn, row))
            if record is not None:
                out.append(record)
        return out

    def _pending_one_by_one(self, conn: sqlite3.Connection, sink: str, limit: int) -> list[EventRecord]:
        """The slow path past a corrupt page: ids from the deliveries, then each event."""
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT event_id FROM deliveries WHERE sink = ? AND state = 'pending' "
                "ORDER BY updated_ts LIMIT ?",
                (sink, limit),
            )
        ]
        out = []
        for event_id in ids:
            record = self._readable(conn, sink, event_id, lambda event_id=event_id: self._fetch(conn, event_id))
            if record is not None:
                out.append(record)
        return out

    def _fetch(self, conn: sqlite3.Connection, event_id: str) -> EventRecord:
        row = conn.execute(
            "SELECT event_id, created_ts, rule_id, payload FROM events WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        if row is None:
            raise ValueError("the event row is missing")
        return self._record(conn, row)

    def _readable(
        self, conn: sqlite3.Connection, sink: str, event_id: str, read: Callable[[], EventRecord]
    ) -> EventRecord | None:
        try:
            return read()
        except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
            if isinstance(exc, sqlite3.Error) and not unreadable(exc):
                raise
            reason = f"stored event cannot be read back: {exc}"
            log.error("outbox: event %s quarantined for sink %s (dead): %s", event_id, sink, reason)
            self.mark_dead(sink, event_id, reason)
            return None

    def counts(self) -> dict[str, dict[str, int]]:
        """``{sink: {"pending": n, "delivered": n, "dead": n}}``."""
        out: dict[str, dict[str, int]] = {}
        for sink, state, count in self._conn().execute(
            "SELECT sink, state, COUNT(*) FROM deliveries GROUP BY sink, state"
        ):
            out.setdefault(sink, {"pending": 0, "delivered": 0, "dead": 0})[state] = count
        return out

    def backlog(self, sink: str) -> tuple[int, float | None]:
        """``(pending events, created_ts of the oldest or None)`` for one sink: cheap
        enough for every ``/api/status`` read (the (sink, state) index)."""
        count, oldest = self._conn().execute(
            "SELECT COUNT(*), MIN(e.created_ts) FROM deliveries d JOIN events e "
            "ON e.event_id = d.event_id WHERE d.sink = ? AND d.state = 'pending'",
            (sink,),
        ).fetchone()
        return int(count), oldest

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


def unreadable(exc: sqlite3.Error) -> bool:
    """Whether an error means the stored bytes are bad (retrying cannot help), not that the
    disk is busy or failing (it may)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    # Python's own decoding of a TEXT column whose bytes were overwritten.
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "Could not decode" in str(exc)


def corruption_of(path: Path) -> str | None:
    """What ``PRAGMA quick_check`` finds wrong with the file, or None when it is sound."""
    conn = sqlite3.connect(path, timeout=30.0)
    try:
        rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.DatabaseError as exc:
        if not unreadable(exc):
            raise
        return str(exc)
    finally:
        conn.close()
    return None if rows == ["ok"] else "; ".join(rows)


def _bump(conn: sqlite3.Connection, sink: str, name: str, n: int = 1) -> None:
    conn.execute(
        "INSERT INTO counters (sink, name, value) VALUES (?, ?, ?) "
        "ON CONFLICT (sink, name) DO UPDATE SET value = value + excluded.value",
        (sink, name, n),
    )


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: one writer at a time, rolled back on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
        else:
            self._rollback()

    def _rollback(self) -> None:
        # After an I/O error SQLite may have rolled back already; a failing ROLLBACK must
        # not replace the error that says what went wrong, nor leave a transaction open.
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
