"""Verdicts, precision and snoozes on a real outbox file (fast tier: no sockets)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
import supervision as sv
from support import make_record

from streamer.events.feedback import OPERATOR_RULE, Feedback, ReviewError, Snoozes
from streamer.events.outbox import Outbox
from streamer.rules.base import RuleEvent
from streamer.rules.snooze import SnoozeBook, shift_end
from streamer.schema.rule_parts import ScheduleConfig

OLD_SCHEMA = """
CREATE TABLE events (event_id TEXT PRIMARY KEY, created_ts REAL NOT NULL, rule_id TEXT NOT NULL,
                     payload TEXT NOT NULL);
CREATE TABLE images (event_id TEXT NOT NULL, idx INTEGER NOT NULL, jpeg BLOB NOT NULL,
                     PRIMARY KEY (event_id, idx));
CREATE TABLE deliveries (event_id TEXT NOT NULL, sink TEXT NOT NULL, state TEXT NOT NULL,
                         attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
                         updated_ts REAL NOT NULL, PRIMARY KEY (event_id, sink));
CREATE TABLE counters (sink TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL DEFAULT 0,
                       PRIMARY KEY (sink, name));
INSERT INTO events VALUES ('e-old', 1.0, 'lane-intrusion', '{"eventId": "e-old"}');
"""


def test_a_verdict_becomes_an_operator_feedback_event_for_every_sink_of_the_reviewed_one(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    alert = make_record()
    outbox.add(alert, ["vision_events", "jsonl"])
    feedback = Feedback(outbox.store)

    first = feedback.review(alert.event_id, "correct", "Ana")
    second = feedback.review(alert.event_id, "incorrect", "Ana")  # a changed mind

    stored = outbox.get(second.event_id)
    assert stored is not None and stored.rule_id == OPERATOR_RULE
    assert stored.payload["eventType"] == "operator_feedback"
    assert stored.payload["eventData"] == {"relatedEventId": alert.event_id, "feedback": "incorrect"}
    assert (stored.payload["deviceId"], stored.payload["streamId"]) == ("edge-box-07", "dock-3")
    assert stored.payload["customMetadata"] == {"rule_id": "lane-intrusion", "reviewer": "Ana"}
    assert first.event_id != second.event_id != alert.event_id
    deliveries = outbox.queries.deliveries(second.event_id)
    assert set(deliveries) == {"vision_events", "jsonl"}
    assert all(d["state"] == "pending" for d in deliveries.values())
    # The latest verdict counts.
    assert feedback.latest([alert.event_id]) == {alert.event_id: "incorrect"}
    assert feedback.precision() == {"lane-intrusion": {
        "reviewed": 1, "correct": 0, "incorrect": 1, "inconclusive": 0, "precision": 0.0}}
    outbox.close()


def test_precision_unreviewed_and_refusals(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    alerts = [make_record() for _ in range(4)]
    for alert in alerts:
        outbox.add(alert, ["jsonl"])
    feedback = Feedback(outbox.store)
    for alert, verdict in zip(alerts, ["correct", "correct", "incorrect"]):
        feedback.review(alert.event_id, verdict)
    feedback.review(alerts[3].event_id, "inconclusive")
    entry = feedback.precision()["lane-intrusion"]
    assert entry == {"reviewed": 4, "correct": 2, "incorrect": 1, "inconclusive": 1, "precision": 0.6667}
    assert feedback.unreviewed() == []
    late = make_record()
    outbox.add(late, ["jsonl"])
    assert [row["event_id"] for row in feedback.unreviewed()] == [late.event_id]
    with pytest.raises(ReviewError, match="verdict"):
        feedback.review(late.event_id, "maybe")
    with pytest.raises(ReviewError, match="no event"):
        feedback.review("not-an-event", "correct")
    operator_event = feedback.review(late.event_id, "correct")
    with pytest.raises(ReviewError, match="operator"):
        feedback.review(operator_event.event_id, "correct")
    outbox.close()


def test_the_new_tables_are_added_to_an_existing_outbox_without_touching_its_events(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.close()
    outbox = Outbox(path)
    assert outbox.get("e-old") is not None
    assert Feedback(outbox.store).precision() == {}
    assert Snoozes(outbox.store).active(0.0) == {}
    outbox.close()
    Outbox(path).close()  # and opening it again is as harmless


def test_a_stored_snooze_is_recorded_as_a_custom_event_and_ends(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    snoozes = Snoozes(outbox.store)
    record = snoozes.snooze("lane-intrusion", 1_000.0, "Ana", 100.0, ["jsonl"], "box", "cam")
    assert record.payload["eventType"] == "custom"
    assert "lane-intrusion snoozed by Ana" in record.payload["eventData"]["value"]
    assert record.payload["customMetadata"]["action"] == "snooze"
    assert set(snoozes.active(500.0)) == {"lane-intrusion"}
    assert snoozes.active(1_000.0) == {}  # over at its end
    assert snoozes.wake("lane-intrusion", None, 2_000.0, ["jsonl"], "box", "cam") is None
    assert snoozes.wake("lane-intrusion", None, 500.0, ["jsonl"], "box", "cam") is not None
    assert snoozes.active(500.0) == {}
    outbox.close()


def _event(rule_id: str) -> RuleEvent:
    return RuleEvent(rule_id=rule_id, t_s=0.0, spec=None, detections=sv.Detections.empty(),  # type: ignore[arg-type]
                     reason="test")


def test_the_snooze_book_hides_only_that_rule_and_only_until_its_end() -> None:
    book = SnoozeBook({"a": 100.0})
    events = [_event("a"), _event("b")]
    assert [e.rule_id for e in book.filter(events, 99.9)] == ["b"]
    assert [e.rule_id for e in book.filter(events, 100.0)] == ["a", "b"]
    assert book.hidden == {"a": 1}  # counted, never silently gone
    book.wake("a")
    assert [e.rule_id for e in book.filter(events, 50.0)] == ["a", "b"]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_end_of_shift_is_the_end_of_the_schedule_window_now_running() -> None:
    day = ScheduleConfig(hours=["06:00-14:00", "14:00-22:00"], timezone="UTC")
    assert shift_end(day, _ts("2025-05-01T09:30:00")) == _ts("2025-05-01T14:00:00")
    assert shift_end(day, _ts("2025-05-01T23:00:00")) is None  # off shift
    night = ScheduleConfig(hours=["22:00-06:00"], weekdays=["thu"], timezone="UTC")  # 2025-05-01: a Thursday
    assert shift_end(night, _ts("2025-05-01T23:00:00")) == _ts("2025-05-02T06:00:00")
    assert shift_end(night, _ts("2025-05-02T05:00:00")) == _ts("2025-05-02T06:00:00")
    assert shift_end(None, _ts("2025-05-01T09:30:00")) is None
