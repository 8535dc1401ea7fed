"""What an operator asks of the outbox (`streamer events ls/show/retry/purge/stats/export`)
and what the monitor shows: reads beside a running writer (WAL), and the two writes an
operator makes (retry, purge) in the same short transactions the runtime uses."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from streamer.events.clips import StoredClip
from streamer.events.feedback import OPERATOR_RULE
from streamer.events.record import EventRecord
from streamer.events.store import COUNTER_NAMES, Store

Delivery = dict[str, object]


class Queries:
    """Operator queries over one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    def open(cls, path: str | Path) -> Queries:
        """The CLI's handle on an existing outbox file (never repaired: read-mostly)."""
        return cls(Store(path))

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def store(self) -> Store:
        return self._store

    def close(self) -> None:
        self._store.close()

    def get(self, event_id: str) -> EventRecord | None:
        """One stored event with its JPEGs, or None."""
        return self._store.get(event_id)

    def clip(self, event_id: str) -> StoredClip | None:
        """An event's clip with its MP4 (while ``ready``), or None when it has none."""
        return self._store.clip(event_id)

    def clip_states(self, event_ids: list[str], now: float | None = None) -> dict[str, str]:
        """``{eventId: state}`` of those events with a clip; a clip still recording past
        its due time reads ``overdue`` (sinks went on without it)."""
        if not event_ids:
            return {}
        now = time.time() if now is None else now
        marks = ",".join("?" * len(event_ids))
        return {
            event_id: "overdue" if state == "recording" and due_ts <= now else state
            for event_id, state, due_ts in self._store.conn().execute(
                f"SELECT event_id, state, due_ts FROM clips WHERE event_id IN ({marks})", event_ids
            )
        }

    def match_ids(self, prefix: str, limit: int = 3) -> list[str]:
        """Event ids starting with ``prefix`` (``%``/``_`` taken literally), at most ``limit``."""
        if not prefix:
            return []
        pattern = prefix.replace("%", "").replace("_", "\\_") + "%"
        return [
            row[0]
            for row in self._store.conn().execute(
                "SELECT event_id FROM events WHERE event_id LIKE ? LIMIT ?", (pattern, limit)
            )
        ]

    def deliveries(self, event_id: str) -> dict[str, Delivery]:
        """``{sink: {state, attempts, last_error}}`` of one event, by sink name."""
        return {
            sink: {"state": state, "attempts": attempts, "last_error": last_error}
            for sink, state, attempts, last_error in self._store.conn().execute(
                "SELECT sink, state, attempts, last_error FROM deliveries "
                "WHERE event_id = ? ORDER BY sink",
                (event_id,),
            )
        }

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
        for clause, value in (("e.rule_id = ?", rule), ("e.created_ts >= ?", since_ts),
                              ("e.created_ts < ?", until_ts)):
            if value is not None:
                where.append(clause)
                args.append(value)
        query = (
            "SELECT e.event_id, e.created_ts, e.rule_id, e.payload, (SELECT v.verdict FROM "
            "verdicts v WHERE v.event_id = e.event_id ORDER BY v.rowid DESC LIMIT 1) "
            "FROM events e WHERE "
            + " AND ".join(where)
            + " ORDER BY e.created_ts, e.rowid"
        )
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        rows = self._store.conn().execute(query, args).fetchall()
        out: list[dict[str, object]] = []
        for event_id, created_ts, rule_id, raw, verdict in rows:
            payload = json.loads(raw)
            out.append({
                "event_id": event_id,
                "created_ts": created_ts,
                "rule_id": rule_id,
                "event_type": payload.get("eventType"),
                "description": describe_payload(payload),
                "verdict": verdict,
                "deliveries": self.deliveries(event_id),
            })
        return out

    def history(
        self,
        limit: int = 20,
        before: str | None = None,
        rule: str | None = None,
        verdict: str | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
    ) -> list[dict[str, object]]:
        """One page of the alerts kept in the outbox, newest first: what the monitor lists,
        so a restart does not empty it (issue 26). Operators' own records are left out.

        ``before``: an eventId, the page continues with the events stored before it.
        ``verdict``: the latest verdict of the event, or ``"none"`` for unreviewed ones.
        Each row: eventId, timestamp (ISO, from the payload), created_ts, rule_id,
        event_type, description, reason, verdict (None before any), delivery (one word:
        delivered, pending, dead or stored when no sink is configured).
        """
        latest = ("(SELECT v.verdict FROM verdicts v WHERE v.event_id = e.event_id "
                  "ORDER BY v.rowid DESC LIMIT 1)")
        where = ["e.rule_id != ?"]
        args: list[object] = [OPERATOR_RULE]
        if before is not None:
            where.append("e.rowid < COALESCE((SELECT rowid FROM events WHERE event_id = ?), -1)")
            args.append(before)
        for clause, value in (("e.rule_id = ?", rule), ("e.created_ts >= ?", since_ts),
                              ("e.created_ts < ?", until_ts)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if verdict == "none":
            where.append(f"{latest} IS NULL")
        elif verdict is not None:
            where.append(f"{latest} = ?")
            args.append(verdict)
        query = (
            f"SELECT e.event_id, e.created_ts, e.rule_id, e.payload, {latest} FROM events e "
            f"WHERE {' AND '.join(where)} ORDER BY e.rowid DESC LIMIT ?"
        )
        rows = self._store.conn().execute(query, [*args, max(1, int(limit))]).fetchall()
        out: list[dict[str, object]] = []
        for event_id, created_ts, rule_id, raw, judged in rows:
            payload = json.loads(raw)
            states = {str(d["state"]) for d in self.deliveries(event_id).values()}
            out.append({
                "eventId": event_id,
                "timestamp": payload.get("timestamp"),
                "created_ts": created_ts,
                "rule_id": rule_id,
                "event_type": payload.get("eventType"),
                "description": describe_payload(payload),
                "reason": (payload.get("customMetadata") or {}).get("reason"),
                "verdict": judged,
                "delivery": next((s for s in ("dead", "pending", "delivered") if s in states),
                                 "stored"),
            })
        return out

    def retry(self, event_ids: Iterable[str] = (), dead: bool = False, sink: str | None = None) -> int:
        """Put deliveries back to pending: the given events' dead ones, or every dead one."""
        query = "UPDATE deliveries SET state = 'pending', updated_ts = ? WHERE state = 'dead'"
        args: list[object] = [time.time()]
        if sink is not None:
            query += " AND sink = ?"
            args.append(sink)
        changed = 0
        with self._store.transaction() as conn:
            if dead:
                changed = conn.execute(query, args).rowcount
            for event_id in event_ids:
                changed += conn.execute(query + " AND event_id = ?", [*args, event_id]).rowcount
        return changed

    def purge(self, dead: bool = False) -> int:
        """Delete events every sink has (and, with ``dead``, those only dead ones lack)."""
        done_states = ("delivered", "dead") if dead else ("delivered",)
        marks = ",".join("?" * len(done_states))
        with self._store.transaction() as conn:
            return conn.execute(
                "DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
                f"d.event_id = events.event_id AND d.state NOT IN ({marks}))",
                done_states,
            ).rowcount

    def dead(self, sink: str | None = None) -> list[tuple[str, str, str]]:
        """``(event_id, sink, reason)`` of dead deliveries."""
        query = "SELECT event_id, sink, COALESCE(last_error, '') FROM deliveries WHERE state = 'dead'"
        args: tuple[str, ...] = ()
        if sink is not None:
            query += " AND sink = ?"
            args = (sink,)
        return [tuple(row) for row in self._store.conn().execute(query, args)]

    def stats(self, now: float | None = None, max_bytes: int | None = None) -> dict[str, object]:
        """Counters per sink, JSON-friendly, for ``streamer events stats`` and the monitor.

        ``{"events": n, "used_mb": x, "max_mb": y, "sinks": {name: {accepted, delivered,
        retried, pending, dead, evicted, dropped, oldest_pending_age_s}}}``; ``pending``
        and ``dead`` are the current rows, the others cumulative over the outbox's life.
        """
        now = time.time() if now is None else now
        conn = self._store.conn()
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
            "events": self._store.events_total(),
            "used_mb": round(self._store.used_bytes() / 2**20, 3),
            "max_mb": None if max_bytes is None else round(max_bytes / 2**20, 3),
            "sinks": sinks,
        }


def describe_payload(payload: dict[str, object]) -> str:
    """An event's one line for people, from its stored payload: a safety alert's
    description, a count's "3 person at dock", a custom value, else the firing's reason."""
    data = payload.get("eventData")
    data = data if isinstance(data, dict) else {}
    if data.get("description"):
        return str(data["description"])
    if "itemCount" in data:
        return f"{data['itemCount']} {data.get('itemType', 'object')} at {data.get('location', '?')}"
    if data.get("value"):
        return str(data["value"])
    if "feedback" in data:
        return f"operator: {data['feedback']} (about {data.get('relatedEventId', '?')})"
    if "result" in data:
        return f"quality check: {data['result']}"
    metadata = payload.get("customMetadata")
    reason = metadata.get("reason") if isinstance(metadata, dict) else None
    return str(reason or payload.get("eventType") or "event")
