"""Event clips in the outbox (issue 17): stored with the event, attached later by the
recorder, held back from the sinks that carry them until attached or due, and evicted with
their event under the outbox's quota."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from support import make_record, wait_for
from support.clips import decoded_frames, make_mp4

from streamer.config.models import EventSpec
from streamer.events.clips import ClipPlan
from streamer.events.outbox import Outbox
from streamer.events.record import EventRecord
from streamer.events.writer import EventWriter
from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame

MP4 = make_mp4(1.0)


def with_plan(due_in_s: float = 60.0) -> EventRecord:
    return replace(make_record(), clip=ClipPlan(pre_s=5, post_s=5, annotated=False,
                                                due_ts=time.time() + due_in_s))


def test_an_event_stored_with_a_plan_expects_its_clip_until_the_recorder_attaches_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    record, plain = with_plan(), make_record()
    outbox.add(record, ["bundle"])
    outbox.add(plain, ["bundle"])
    expected = outbox.clip(record.event_id)
    assert expected is not None and expected.state == "recording" and expected.mp4 is None
    assert expected.meta == {"pre_s": 5, "post_s": 5, "annotated": False}
    assert outbox.clip(plain.event_id) is None
    assert outbox.attach_clip(record.event_id, MP4, {"duration_s": 1.0, "start_s": -0.5})
    ready = outbox.clip(record.event_id)
    assert ready is not None and ready.state == "ready" and ready.mp4 == MP4
    assert ready.meta == {"pre_s": 5, "post_s": 5, "annotated": False, "duration_s": 1.0, "start_s": -0.5}
    assert decoded_frames(ready.mp4) == (10, 160, 120)
    assert outbox.clip_states([record.event_id, plain.event_id]) == {record.event_id: "ready"}


def test_a_failed_clip_says_why_and_a_clip_for_an_unknown_event_is_refused(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    record = with_plan()
    outbox.add(record, ["bundle"])
    assert outbox.attach_clip(record.event_id, None, {"reason": "encoder too slow"})
    failed = outbox.clip(record.event_id)
    assert failed is not None and failed.state == "failed" and failed.missing() == "encoder too slow"
    assert outbox.attach_clip("never-stored", MP4, {}) is False
    assert outbox.clip("never-stored") is None


def test_a_clip_carrying_sink_waits_for_the_clip_until_it_is_attached_or_due(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    waiting, overdue, plain = with_plan(60), with_plan(60), make_record()
    for record in (waiting, overdue, plain):
        outbox.add(record, ["bundle", "vision_events"])
    now = time.time()
    # Images-only sinks never wait.
    assert len(outbox.pending("vision_events")) == 3
    # The clip sink gets only the event without a clip; it has no stored clip.
    batch = outbox.pending("bundle", clips=True, now=now)
    assert [r.event_id for r in batch] == [plain.event_id] and batch[0].stored_clip is None
    outbox.attach_clip(waiting.event_id, MP4, {})
    batch = outbox.pending("bundle", clips=True, now=now)
    by_id = {r.event_id: r for r in batch}
    assert set(by_id) == {plain.event_id, waiting.event_id}
    assert by_id[waiting.event_id].stored_clip.mp4 == MP4  # type: ignore[union-attr]
    # Past its due time the event goes without its clip, and the clip says why.
    late = {r.event_id: r for r in outbox.pending("bundle", clips=True, now=now + 61)}
    assert late[overdue.event_id].stored_clip.missing() == "not ready by its due time"  # type: ignore[union-attr]
    assert outbox.clip_states([overdue.event_id], now=now + 61) == {overdue.event_id: "overdue"}


def test_clips_count_against_the_quota_and_leave_with_their_event_delivered_first(tmp_path: Path) -> None:
    clip = make_mp4(1.0, noise=True)
    assert len(clip) > 40_000  # a clip of real weight, not a few bytes
    outbox = Outbox(tmp_path / "outbox.db", max_mb=2)
    records = [with_plan() for _ in range(40)]
    for i, record in enumerate(records):
        outbox.add(record, ["bundle"])
        outbox.attach_clip(record.event_id, clip, {})
        if 10 <= i < 20:
            outbox.mark_delivered("bundle", [record.event_id])
        # Checked after every clip: the clips alone are 40 x 60 KB, more than the 2 MB.
        assert outbox.used_bytes() <= outbox.max_bytes  # type: ignore[operator]
    present = [outbox.clip(r.event_id) is not None for r in records]
    # Delivered events (10-19) went first, their clips with them; the oldest undelivered
    # went only once those were gone, each counted as evicted.
    assert not any(present[10:20])
    assert all(present[-5:])
    lost = outbox.stats()["sinks"]["bundle"]["evicted"]  # type: ignore[index]
    assert lost == sum(1 for i in list(range(10)) + list(range(20, 40)) if not present[i])
    assert outbox.events_total() == sum(present)
    rows = outbox.store.conn().execute("SELECT COUNT(*) FROM clips").fetchone()[0]
    assert rows == sum(present)  # no clip outlives its event


def _event() -> tuple[RuleEvent, Frame]:
    event = RuleEvent("lane", 0.0, EventSpec(), sv.Detections.empty(), "person entered lane")
    frame = Frame(image=np.zeros((90, 160, 3), np.uint8), index=0, t_s=0.0, wall_ts=time.time())
    return event, frame


def test_the_writer_stores_the_event_with_its_id_and_plan_then_the_clip_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    woken: list[int] = []
    writer = EventWriter(outbox, ["bundle"], "edge-box-07", "dock-3", lambda frame, event: frame.image,
                         on_accepted=lambda: woken.append(1))
    writer.start()
    event, frame = _event()
    plan = ClipPlan(pre_s=3, post_s=2, annotated=True, due_ts=time.time() + 30)
    assert writer.submit(event, frame, event_id="evt-1", clip=plan)
    # Handed over right behind its event: the writer stores the event first.
    writer.attach_clip("evt-1", MP4, {"duration_s": 1.0})
    writer.attach_clip("evt-never", MP4, {})
    writer.attach_clip("evt-1-copy", None, {})
    assert writer.stop()
    record = outbox.get("evt-1")
    assert record is not None and record.payload["eventId"] == "evt-1"
    assert record.payload["customMetadata"]["clip"] == "on_box"
    assert (record.payload["customMetadata"]["clip_pre_s"], record.payload["customMetadata"]["clip_post_s"]) == (3, 2)
    stored = outbox.clip("evt-1")
    assert stored is not None and stored.state == "ready" and stored.mp4 == MP4
    assert (writer.clips_attached_total, writer.clips_orphaned_total) == (1, 2)
    assert len(woken) == 2  # the event, then its clip: senders waiting for it go on


def test_a_clip_waits_behind_its_event_while_the_outbox_cannot_be_written(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.db"
    outbox = Outbox(path, busy_timeout_s=0.1)
    writer = EventWriter(outbox, ["bundle"], "edge-box-07", "dock-3", lambda frame, event: frame.image,
                         retry_start_s=0.05, retry_max_s=0.1)
    writer.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        event, frame = _event()
        writer.submit(event, frame, event_id="evt-2",
                      clip=ClipPlan(pre_s=1, post_s=1, annotated=False, due_ts=time.time() + 30))
        writer.attach_clip("evt-2", MP4, {})
        wait_for(lambda: writer.store_error, 60, "the writer to notice the locked outbox")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    wait_for(lambda: writer.clips_attached_total == 1, 60, "the clip stored once the lock is gone")
    assert writer.stop()
    assert writer.accepted_total == 1 and writer.clips_orphaned_total == 0
    stored = outbox.clip("evt-2")
    assert stored is not None and stored.state == "ready"


@pytest.mark.parametrize("mp4", [MP4, None], ids=["ready", "failed"])
def test_events_stage_mirrors_the_writer(tmp_path: Path, mp4: bytes | None) -> None:
    from streamer.pipeline.events import EventsStage

    outbox = Outbox(tmp_path / "outbox.db")
    stage = EventsStage(EventWriter(outbox, ["bundle"], "edge-box-07", "dock-3",
                                    lambda frame, event: frame.image))
    stage.start()
    event, frame = _event()
    stage.submit(event, frame, event_id="evt-3",
                 clip=ClipPlan(pre_s=1, post_s=1, annotated=False, due_ts=time.time() + 30))
    wait_for(lambda: stage.recent() and stage.recent()[0]["clip"] == "recording", 30, "recording shown")
    stage.attach_clip("evt-3", mp4, {} if mp4 else {"reason": "no frames"})
    state = "ready" if mp4 else "failed"
    wait_for(lambda: stage.recent()[0]["clip"] == state, 30, f"{state} shown")
    clip = stage.clip("evt-3")
    assert clip is not None and clip.mp4 == mp4
    stage.stop(give_up_s=1)
