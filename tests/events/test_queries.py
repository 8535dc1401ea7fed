"""The event history the monitor lists comes from the outbox: newest first, paged,
filtered by rule, verdict and time, so a restart does not empty it (issue 26)."""

from __future__ import annotations

from pathlib import Path

from support import make_record

from streamer.events.feedback import Feedback
from streamer.events.outbox import Outbox
from streamer.events.queries import Queries, describe_payload
from streamer.events.record import EventRecord

DAY = 1_746_100_800.0  # 2025-05-01T12:00:00Z


def fill(path: Path) -> list[str]:
    """Six alerts, one a minute, alternating two rules; the fourth delivered."""
    outbox = Outbox(path)
    ids = []
    for i in range(6):
        record = make_record()
        outbox.add(EventRecord(record.event_id, record.payload, record.images, DAY + 60 * i,
                               rule_id=f"rule-{i % 2}"), ["ve"])
        ids.append(record.event_id)
    outbox.mark_delivered("ve", [ids[3]])
    outbox.close()
    return ids


def test_a_reopened_outbox_lists_newest_first_in_pages(tmp_path: Path) -> None:
    ids = fill(tmp_path / "outbox.db")
    queries = Queries.open(tmp_path / "outbox.db")  # a new process: nothing in memory
    first = queries.history(limit=4)
    assert [row["eventId"] for row in first] == ids[::-1][:4]
    rest = queries.history(limit=4, before=str(first[-1]["eventId"]))
    assert [row["eventId"] for row in rest] == ids[::-1][4:]
    row = first[2]
    assert row["description"] == "Person in forklift lane" and row["delivery"] == "delivered"
    assert first[0]["delivery"] == "pending" and row["verdict"] is None


def test_filters_by_rule_verdict_and_time(tmp_path: Path) -> None:
    ids = fill(tmp_path / "outbox.db")
    queries = Queries.open(tmp_path / "outbox.db")
    feedback = Feedback(queries.store)
    feedback.review(ids[0], "incorrect", now=DAY + 1000)
    feedback.review(ids[2], "incorrect", now=DAY + 1000)
    feedback.review(ids[2], "correct", now=DAY + 1001)  # a changed mind: the latest counts
    assert [r["eventId"] for r in queries.history(rule="rule-1")] == [ids[5], ids[3], ids[1]]
    assert [r["eventId"] for r in queries.history(verdict="correct")] == [ids[2]]
    assert [r["eventId"] for r in queries.history(verdict="incorrect")] == [ids[0]]
    assert len(queries.history(verdict="none")) == 4
    window = queries.history(since_ts=DAY + 60, until_ts=DAY + 180)
    assert [r["eventId"] for r in window] == [ids[2], ids[1]]
    # The operator_feedback records the reviews made are not alerts: never listed.
    assert all(r["rule_id"].startswith("rule-") for r in queries.history(limit=50))


def test_every_event_type_has_a_line_for_people() -> None:
    assert describe_payload({"eventData": {"itemCount": 3, "itemType": "person",
                                           "location": "dock"}}) == "3 person at dock"
    assert describe_payload({"eventData": {"value": "frozen"}}) == "frozen"
    assert describe_payload({"eventData": {}, "customMetadata": {"reason": "entered lane"}}) \
        == "entered lane"
