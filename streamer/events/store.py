"""The outbox file itself: schema, one connection per thread, short write transactions.

SQLite in WAL mode lets the CLI read while the runtime writes. sqlite3 connections are
not shared between threads, so each thread gets its own; the store keeps a list of them
so that :meth:`Store.close` closes every thread's, not only the caller's. An outbox that
fails ``PRAGMA quick_check`` at open (``repair``) is moved aside and a fresh one started,
so one bad page cannot block every sink for ever.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from streamer.errors import SinkError
from streamer.events.clips import StoredClip
from streamer.events.record import EventRecord

log = logging.getLogger("streamer.events")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    created_ts REAL NOT NULL,
    rule_id    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    born_run_s REAL
);
-- The outbox's own clock (issue 28): seconds its owner has run, counted with the
-- monotonic clock, so an event's age cannot jump with the wall clock. Row 'run_s'.
CREATE TABLE IF NOT EXISTS clock (
    name  TEXT PRIMARY KEY,
    value REAL NOT NULL
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
-- An event's video clip (issue 17): 'recording' from the event's own commit until the
-- recorder attaches it ('ready', mp4 set) or gives up ('failed', meta.reason).
CREATE TABLE IF NOT EXISTS clips (
    event_id TEXT PRIMARY KEY REFERENCES events(event_id) ON DELETE CASCADE,
    state    TEXT NOT NULL CHECK (state IN ('recording', 'ready', 'failed')),
    due_ts   REAL NOT NULL,
    mp4      BLOB,
    meta     TEXT NOT NULL DEFAULT '{}'
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
-- Operator verdicts (issue 16): one row per click, the latest per event counts. The
-- rule id is copied here so a rule's precision outlives its evicted events.
CREATE TABLE IF NOT EXISTS verdicts (
    event_id          TEXT NOT NULL,
    rule_id           TEXT NOT NULL,
    verdict           TEXT NOT NULL CHECK (verdict IN ('correct', 'incorrect', 'inconclusive')),
    reviewer          TEXT,
    feedback_event_id TEXT NOT NULL,
    ts                REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_event ON verdicts (event_id);
-- Rules an operator silenced until a wall-clock time (frame time, as event timestamps).
CREATE TABLE IF NOT EXISTS snoozes (
    rule_id  TEXT PRIMARY KEY,
    until_ts REAL NOT NULL,
    by_name  TEXT,
    set_ts   REAL NOT NULL
);
"""

COUNTER_NAMES = (
    "accepted", "delivered", "retried", "dead", "evicted", "dropped", "unstored", "files_evicted",
)
CLIP_COLUMNS = "event_id, state, due_ts, mp4, meta"
EVENT_COLUMNS = "event_id, created_ts, rule_id, payload"


class Store:
    """The open outbox file; thread-safe, cheap to share between threads."""

    def __init__(self, path: str | Path, repair: bool = False, busy_timeout_s: float = 30.0,
                 keeps_time: bool = False) -> None:
        """Open (or create) the file; with ``repair`` a corrupt one is moved aside first.
        ``busy_timeout_s``: how long a write waits for another process's lock.
        ``keeps_time``: this is the owner, whose running time advances the outbox's clock
        (:meth:`run_s`); readers see the clock as the owner last saved it.

        Raises :class:`SinkError` (one line naming ``outbox.path``) when it cannot be opened.
        """
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        # Every thread's open connection, so close() reaches them all.
        self._open: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        # Where a corrupt outbox was moved at open (``repair``), else None.
        self.moved_aside: Path | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if repair and self.path.exists():
                self._check_or_move_aside()
            self.conn().executescript(SCHEMA)
            self._migrate()
            self.keeps_time = keeps_time
            row = self.conn().execute("SELECT value FROM clock WHERE name = 'run_s'").fetchone()
            self._run_base_s = float(row[0]) if row else 0.0
            self._run_started = time.monotonic()
            if keeps_time:
                # Events from before the clock existed start ageing now: never sooner.
                with self.transaction() as conn:
                    conn.execute("UPDATE events SET born_run_s = ? WHERE born_run_s IS NULL",
                                 (self._run_base_s,))
                    self._save_run_clock(conn)
        except (OSError, sqlite3.Error) as exc:
            raise SinkError(f"outbox.path: cannot open {self.path}: {exc}") from None

    def _migrate(self) -> None:
        """Columns added since a file was made (the CREATEs above do not alter tables)."""
        conn = self.conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        if "born_run_s" not in columns:
            conn.execute("ALTER TABLE events ADD COLUMN born_run_s REAL")

    def run_s(self) -> float:
        """The outbox's clock: seconds its owners have run, all runs together (monotonic
        within a run, saved between runs). Ages measured on it ignore a wall clock set
        wrong or corrected; a reader's copy stands still at the owner's last save."""
        if not self.keeps_time:
            return self._run_base_s
        return self._run_base_s + (time.monotonic() - self._run_started)

    def save_run_clock(self) -> None:
        """Write the clock (the owner's, after a batch of adds and at close)."""
        if self.keeps_time:
            with self.transaction() as conn:
                self._save_run_clock(conn)

    def _save_run_clock(self, conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO clock (name, value) VALUES ('run_s', ?) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (self.run_s(),))

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

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after :meth:`close`)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and id(conn) in self._open:  # not closed by close() meanwhile
            return conn
        # check_same_thread off only so close() may close it from another thread; each
        # connection is otherwise used by its own thread alone.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, not only a process crash.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        thread = threading.current_thread()
        with self._lock:
            # Threads that ended without closing leave their connection behind: close it.
            for ident, (owner, stale) in list(self._open.items()):
                if not owner.is_alive():
                    stale.close()
                    del self._open[ident]
            self._open[id(conn)] = (thread, conn)
        self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close every thread's connection; a thread that uses the store later reopens."""
        with self._lock:
            conns = [conn for _, conn in self._open.values()]
            self._open.clear()
        for conn in conns:
            conn.close()
        self._local.conn = None

    def transaction(self) -> _Transaction:
        """``with store.transaction() as conn:`` one short ``BEGIN IMMEDIATE`` write."""
        return _Transaction(self.conn())

    # --- reading helpers shared by the hot path and the CLI's queries -----------------

    def record(self, conn: sqlite3.Connection, row: tuple[Any, ...]) -> EventRecord:
        """The event of an ``EVENT_COLUMNS`` row, with its JPEGs in order."""
        event_id, created_ts, rule_id, payload = row
        images = [
            bytes(jpeg)
            for (jpeg,) in conn.execute(
                "SELECT jpeg FROM images WHERE event_id = ? ORDER BY idx", (event_id,)
            )
        ]
        return EventRecord(
            event_id=event_id, payload=json.loads(payload), images=images,
            created_ts=created_ts, rule_id=rule_id,
        )

    def get(self, event_id: str, conn: sqlite3.Connection | None = None) -> EventRecord | None:
        """One stored event with its JPEGs, or None."""
        conn = conn or self.conn()
        row = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else self.record(conn, row)

    def clip(self, event_id: str, with_mp4: bool = True,
             conn: sqlite3.Connection | None = None) -> StoredClip | None:
        """An event's clip row (its MP4 only ``with_mp4``), or None when it has none."""
        conn = conn or self.conn()
        columns = CLIP_COLUMNS if with_mp4 else CLIP_COLUMNS.replace("mp4", "NULL")
        row = conn.execute(f"SELECT {columns} FROM clips WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else clip_of(row)

    def used_bytes(self) -> int:
        """Bytes of live pages (the file does not shrink; freed pages are reused)."""
        conn = self.conn()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def events_total(self) -> int:
        return int(self.conn().execute("SELECT COUNT(*) FROM events").fetchone()[0])


def clip_of(row: tuple[Any, ...]) -> StoredClip:
    """The :class:`StoredClip` of a ``CLIP_COLUMNS`` row."""
    event_id, state, due_ts, mp4, meta = row
    return StoredClip(event_id=event_id, state=state, due_ts=float(due_ts),
                      mp4=None if mp4 is None else bytes(mp4), meta=json.loads(meta or "{}"))


def bump(conn: sqlite3.Connection, sink: str, name: str, n: int = 1) -> None:
    """Add ``n`` to a sink's cumulative counter, inside the caller's transaction."""
    conn.execute(
        "INSERT INTO counters (sink, name, value) VALUES (?, ?, ?) "
        "ON CONFLICT (sink, name) DO UPDATE SET value = value + excluded.value",
        (sink, name, n),
    )


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


class _Transaction:
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
