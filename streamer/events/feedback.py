"""What operators tell the outbox: verdicts on events and snoozed rules (issue 16).

A verdict is stored beside the event and turned, in the same transaction, into an
``operator_feedback`` event (docs/architecture.md, "Vision Events") with a pending delivery for every
sink the reviewed event went to: the senders deliver it like any other event, from a
running streamer within seconds (WAL: the CLI may write while the runtime runs) or from
the next run. A changed mind adds a row; the latest verdict of an event counts.

A snooze is a row per rule with the wall-clock time it ends (frame time, as event
timestamps are); setting or ending one is recorded as a ``custom`` event naming who did
it, so the record says who silenced what and when.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from streamer.events.delivery_rows import insert_event
from streamer.events.payload import iso_utc
from streamer.events.record import EventRecord
from streamer.events.store import Store

VERDICTS = ("correct", "incorrect", "inconclusive")
# rule_id of the events operators make, so they never count as a rule's alerts.
OPERATOR_RULE = "_operator"
MAX_NAME_CHARS = 80


class ReviewError(ValueError):
    """An operator action that cannot be done (unknown event, bad verdict): one line."""


def clean_name(name: str | None) -> str | None:
    """An operator's optional name, short and printable, or None."""
    text = "".join(ch for ch in (name or "") if ch.isprintable()).strip()[:MAX_NAME_CHARS]
    return text or None


def operator_record(
    event_type: str,
    event_data: dict[str, Any],
    metadata: dict[str, Any],
    wall_ts: float,
    device_id: str,
    stream_id: str,
) -> EventRecord:
    """An event an operator made (no picture): its own eventId, the camera's ids."""
    event_id = str(uuid.uuid4())
    payload: dict[str, Any] = {
        "eventId": event_id,
        "eventType": event_type,
        "timestamp": iso_utc(wall_ts),
        "deviceId": device_id,
        "streamId": stream_id,
        "images": [],
        "eventData": event_data,
        "customMetadata": {key: value for key, value in metadata.items() if value is not None},
    }
    return EventRecord(event_id=event_id, payload=payload, created_ts=wall_ts, rule_id=OPERATOR_RULE)


class Feedback:
    """Verdicts over one :class:`Store`: record, read back, precision per rule."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    def open(cls, path: str | Path) -> Feedback:
        return cls(Store(path))

    def review(
        self, event_id: str, verdict: str, reviewer: str | None = None, now: float | None = None
    ) -> EventRecord:
        """Store a verdict and its ``operator_feedback`` event, atomically; returns the event."""
        if verdict not in VERDICTS:
            raise ReviewError(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
        now = time.time() if now is None else now
        reviewer = clean_name(reviewer)
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT rule_id, payload FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is None:
                raise ReviewError(f"no event {event_id!r} in the outbox")
            rule_id, raw = row
            if rule_id == OPERATOR_RULE:
                raise ReviewError(f"event {event_id} is an operator's own record, not an alert")
            payload = json.loads(raw)
            sinks = [sink for (sink,) in conn.execute(
                "SELECT sink FROM deliveries WHERE event_id = ? ORDER BY sink", (event_id,))]
            record = operator_record(
                "operator_feedback",
                {"relatedEventId": event_id, "feedback": verdict},
                {"rule_id": rule_id, "reviewer": reviewer},
                now, str(payload.get("deviceId", "")), str(payload.get("streamId", "")),
            )
            insert_event(conn, record, sinks, self._store.run_s())
            conn.execute(
                "INSERT INTO verdicts (event_id, rule_id, verdict, reviewer, feedback_event_id, ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event_id, rule_id, verdict, reviewer, record.event_id, now),
            )
        return record

    def latest(self, event_ids: list[str]) -> dict[str, str]:
        """The verdict that counts for each of ``event_ids`` that has one."""
        if not event_ids:
            return {}
        marks = ",".join("?" * len(event_ids))
        return {
            event_id: verdict
            for event_id, verdict in self._store.conn().execute(
                f"SELECT event_id, verdict FROM verdicts WHERE rowid IN (SELECT MAX(rowid) FROM "
                f"verdicts WHERE event_id IN ({marks}) GROUP BY event_id)",
                event_ids,
            )
        }

    def precision(self) -> dict[str, dict[str, Any]]:
        """Per rule, over the outbox's life: reviewed, correct, incorrect, inconclusive and
        precision = correct / (correct + incorrect) (None before any decisive verdict)."""
        out: dict[str, dict[str, Any]] = {}
        for rule_id, verdict, count in self._store.conn().execute(
            "SELECT rule_id, verdict, COUNT(*) FROM verdicts WHERE rowid IN "
            "(SELECT MAX(rowid) FROM verdicts GROUP BY event_id) GROUP BY rule_id, verdict"
        ):
            entry = out.setdefault(rule_id, {"reviewed": 0, **{v: 0 for v in VERDICTS}})
            entry[verdict] = count
            entry["reviewed"] += count
        for entry in out.values():
            decisive = entry["correct"] + entry["incorrect"]
            entry["precision"] = round(entry["correct"] / decisive, 4) if decisive else None
        return out

    def unreviewed(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Rule events no operator has judged yet, oldest first."""
        query = (
            "SELECT e.event_id, e.created_ts, e.rule_id, e.payload FROM events e "
            "WHERE e.rule_id != ? AND NOT EXISTS (SELECT 1 FROM verdicts v "
            "WHERE v.event_id = e.event_id) ORDER BY e.created_ts, e.rowid"
        )
        args: list[Any] = [OPERATOR_RULE]
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        rows = self._store.conn().execute(query, args).fetchall()
        return [
            {"event_id": event_id, "created_ts": created_ts, "rule_id": rule_id,
             "event_type": json.loads(payload).get("eventType")}
            for event_id, created_ts, rule_id, payload in rows
        ]

    def last_alerts(self) -> dict[str, float]:
        """The newest stored event's time per rule (wall clock of its frame)."""
        return {
            rule_id: ts
            for rule_id, ts in self._store.conn().execute(
                "SELECT rule_id, MAX(created_ts) FROM events WHERE rule_id != ? GROUP BY rule_id",
                (OPERATOR_RULE,),
            )
        }


class Snoozes:
    """Stored snoozes: set, end early, and the ones still running at a given time."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def active(self, now: float) -> dict[str, dict[str, Any]]:
        """``{rule_id: {until_ts, by, set_ts}}`` of snoozes that end after ``now``."""
        return {
            rule_id: {"until_ts": until_ts, "by": by_name, "set_ts": set_ts}
            for rule_id, until_ts, by_name, set_ts in self._store.conn().execute(
                "SELECT rule_id, until_ts, by_name, set_ts FROM snoozes WHERE until_ts > ?", (now,)
            )
        }

    def snooze(
        self, rule_id: str, until_ts: float, by: str | None, now: float,
        sinks: list[str], device_id: str, stream_id: str,
    ) -> EventRecord:
        """Silence ``rule_id`` until ``until_ts`` and record who did it, atomically."""
        by = clean_name(by)
        record = operator_record(
            "custom",
            {"value": f"rule {rule_id} snoozed by {by or 'an operator'} until {iso_utc(until_ts)}"},
            {"rule_id": rule_id, "action": "snooze", "by": by, "until": iso_utc(until_ts)},
            now, device_id, stream_id,
        )
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO snoozes (rule_id, until_ts, by_name, set_ts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (rule_id) DO UPDATE SET until_ts = excluded.until_ts, "
                "by_name = excluded.by_name, set_ts = excluded.set_ts",
                (rule_id, until_ts, by, now),
            )
            insert_event(conn, record, sinks, self._store.run_s())
        return record

    def wake(
        self, rule_id: str, by: str | None, now: float,
        sinks: list[str], device_id: str, stream_id: str,
    ) -> EventRecord | None:
        """End a rule's snooze now; None (nothing recorded) when it was not snoozed."""
        by = clean_name(by)
        record = operator_record(
            "custom",
            {"value": f"rule {rule_id} woken by {by or 'an operator'}"},
            {"rule_id": rule_id, "action": "wake", "by": by},
            now, device_id, stream_id,
        )
        with self._store.transaction() as conn:
            if not _delete_live(conn, rule_id, now):
                return None
            insert_event(conn, record, sinks, self._store.run_s())
        return record


def _delete_live(conn: sqlite3.Connection, rule_id: str, now: float) -> bool:
    return conn.execute(
        "DELETE FROM snoozes WHERE rule_id = ? AND until_ts > ?", (rule_id, now)
    ).rowcount > 0
