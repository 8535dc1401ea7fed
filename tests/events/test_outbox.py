"""The outbox's quota, age limit and counters, and `streamer events ...` on a live outbox."""

from __future__ import annotations

import json
import logging
import tarfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from support import make_record, noisy_jpeg, run_cli, write_config

from streamer.events.outbox import Outbox
from streamer.events.record import EventRecord

pytestmark = pytest.mark.integration


def big_record(seed: int, created_ts: float) -> EventRecord:
    base = make_record()
    return EventRecord(base.event_id, base.payload, [noisy_jpeg(seed)], created_ts, "lane")


def test_quota_evicts_delivered_first_then_oldest_pending_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_mb=0.8)
    ids = []
    for i in range(30):
        record = big_record(i, created_ts=1000.0 + i)
        outbox.add(record, ["a", "b"])
        ids.append(record.event_id)
    assert outbox.used_bytes() < 0.8 * 2**20  # 30 x ~21 KB: under the quota so far
    outbox.mark_delivered("a", ids[10:20])
    outbox.mark_delivered("b", ids[10:20])
    with caplog.at_level(logging.INFO, logger="streamer.events"):
        for i in range(30, 50):
            outbox.add(big_record(i, created_ts=1000.0 + i), ["a", "b"])
        outbox.enforce_limits()
    assert outbox.used_bytes() <= 0.8 * 2**20
    left = {row["event_id"] for row in outbox.list_events()}
    # The delivered ones went first; the oldest pending only once those were gone.
    assert not left & set(ids[10:20])
    evicted_pending = [event_id for event_id in ids[:10] if event_id not in left]
    assert evicted_pending and evicted_pending == ids[: len(evicted_pending)]
    assert all(event_id in left for event_id in ids[20:])
    stats = outbox.stats()["sinks"]
    for sink in ("a", "b"):
        assert stats[sink]["evicted"] == len(evicted_pending)  # type: ignore[index]
        assert stats[sink]["accepted"] == 50 and stats[sink]["delivered"] == 10  # type: ignore[index]
    lost_lines = [r for r in caplog.records if "evicted event" in r.getMessage()]
    assert len(lost_lines) == 2 * len(evicted_pending)
    assert any("removed" in r.getMessage() and "delivered" in r.getMessage()
               for r in caplog.records)


def test_ttl_removes_old_events_and_counts_undelivered_ones(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", ttl_days=1)
    old_done, old_pending, fresh = (make_record() for _ in range(3))
    now = 10 * 86400.0
    outbox.add(EventRecord(old_done.event_id, old_done.payload, old_done.images, now - 2 * 86400), ["s"])
    outbox.add(EventRecord(old_pending.event_id, old_pending.payload, old_pending.images,
                           now - 1.5 * 86400), ["s"])
    outbox.add(EventRecord(fresh.event_id, fresh.payload, fresh.images, now - 3600), ["s"])
    outbox.mark_delivered("s", [old_done.event_id])
    # Old by the wall clock and by the outbox's own clock (two days of running since).
    assert outbox.enforce_limits(now=now, run_s=outbox.store.run_s() + 2 * 86400) == 2
    assert [row["event_id"] for row in outbox.list_events()] == [fresh.event_id]
    stats = outbox.stats(now=now)["sinks"]["s"]  # type: ignore[index]
    assert stats["evicted"] == 1 and stats["pending"] == 1
    assert stats["oldest_pending_age_s"] == 3600


def test_stats_are_json_with_every_counter(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    records = [make_record() for _ in range(4)]
    for record in records:
        outbox.add(record, ["ve"])
    outbox.mark_failed("ve", records[0].event_id, "HTTP 500")
    outbox.mark_delivered("ve", [records[0].event_id, records[1].event_id])
    outbox.mark_dead("ve", records[2].event_id, "HTTP 400: bad")
    outbox.count_dropped(["ve"], 3)
    stats = json.loads(json.dumps(outbox.stats(now=records[3].created_ts + 5)))
    assert stats["events"] == 4
    assert stats["sinks"]["ve"] == {
        "accepted": 4, "delivered": 2, "retried": 1, "pending": 1, "dead": 1, "evicted": 0,
        "dropped": 3, "unstored": 0, "files_evicted": 0, "oldest_pending_age_s": 5.0,
    }


def _fill_for_cli(path: Path) -> list[EventRecord]:
    outbox = Outbox(path)
    records = [make_record() for _ in range(3)]
    for i, record in enumerate(records):
        outbox.add(EventRecord(record.event_id, record.payload, record.images,
                               1_746_100_800.0 + i, rule_id=f"rule-{i % 2}"), ["vision_events", "jsonl"])
    outbox.mark_delivered("jsonl", [r.event_id for r in records])
    outbox.mark_delivered("vision_events", [records[0].event_id])
    outbox.mark_dead("vision_events", records[1].event_id, "HTTP 400: events[0].customMetadata bad")
    outbox.close()
    return records


def test_events_cli_ls_show_stats_retry_purge(tmp_path: Path) -> None:
    db = tmp_path / "data" / "outbox.db"
    records = _fill_for_cli(db)
    # The outbox found through a config whose key comes from an unset variable.
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"source": "clip.mp4"}, "models": [{"id": "m", "kind": "hog"}],
        "sinks": [{"type": "vision_events", "api_key": "${NOT_SET_KEY}", "use_case": "x"}],
        "outbox": {"path": str(db)},
    })
    ls = run_cli("events", "ls", "--config", str(config), "--state", "dead")
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.splitlines()[0].split()[:2] == ["EVENT", "TIME"]  # a header first
    assert ls.stdout.splitlines()[1].split()[0] == records[1].event_id
    assert "vision_events=dead" in ls.stdout
    assert "1 event(s)" in ls.stderr
    by_rule = run_cli("events", "--outbox", str(db), "ls", "--rule", "rule-0", "--json")
    assert [json.loads(line)["event_id"] for line in by_rule.stdout.splitlines()] == [
        records[0].event_id, records[2].event_id]
    since = run_cli("events", "ls", "--outbox", str(db), "--since", "2025-05-01T12:00:01Z")
    assert since.stdout.count("\n") == 1 + 2  # the header and two events

    show = run_cli("events", "show", records[1].event_id[:13], "--outbox", str(db))
    shown = json.loads(show.stdout)
    assert shown["deliveries"]["vision_events"]["last_error"].startswith("HTTP 400")
    assert shown["payload"]["eventId"] == records[1].event_id

    stats = json.loads(run_cli("events", "stats", "--outbox", str(db)).stdout)
    assert stats["sinks"]["vision_events"]["dead"] == 1
    assert stats["sinks"]["vision_events"]["pending"] == 1

    retry = run_cli("events", "retry", "--dead", "--outbox", str(db))
    assert retry.returncode == 0 and retry.stdout.startswith("1 delivery")
    assert Outbox(db).stats()["sinks"]["vision_events"]["pending"] == 2  # type: ignore[index]

    purge = run_cli("events", "purge", "--outbox", str(db))
    assert purge.stdout.startswith("1 event(s) removed")  # only the one both sinks have

    missing = run_cli("events", "ls", "--outbox", str(tmp_path / "nope.db"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: no outbox at")
    assert "Traceback" not in missing.stderr
    unknown = run_cli("events", "show", str(uuid.uuid4()), "--outbox", str(db))
    assert unknown.returncode == 1 and "no event" in unknown.stderr


def test_events_export_writes_readable_bundles(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    records = _fill_for_cli(db)
    out = tmp_path / "usb"
    result = run_cli("events", "export", "--bundle", str(out), "--outbox", str(db),
                     "--use-case", "site-safety")
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.tar.gz"))
    # Pending for vision_events: records 1 (dead, not pending) excluded, 2 included.
    assert [f.name.split("_")[-1][:-7] for f in files] == [records[2].event_id]
    with tarfile.open(files[0]) as archive:
        payload = json.load(archive.extractfile("payload.json"))  # type: ignore[arg-type]
    assert payload["bundleFormatVersion"] == 1 and payload["useCaseId"] == "site-safety"


def test_a_full_queue_drops_without_blocking_and_the_outbox_counts_it(tmp_path: Path) -> None:
    """The frame loop's submit never waits; what it could not hand over is counted, per sink."""
    import threading
    import time

    import supervision as sv

    from streamer.config.models import EventSpec
    from streamer.events.writer import EventWriter
    from streamer.rules.base import RuleEvent
    from streamer.source.frame import Frame

    disk_busy = threading.Event()
    outbox = Outbox(tmp_path / "outbox.db")

    def slow_render(frame: Frame, event: RuleEvent) -> np.ndarray:
        disk_busy.wait(5)  # the writer is stuck (a slow SD card, say)
        return frame.image

    writer = EventWriter(outbox, ["ve", "jsonl"], "dev", "cam", slow_render, queue_size=2)
    writer.start()
    frame = Frame(image=np.zeros((36, 64, 3), np.uint8), index=0, t_s=0.0, wall_ts=time.time())
    event = RuleEvent("lane", 0.0, EventSpec(), sv.Detections.empty(), "person entered lane")
    started = time.perf_counter()
    handed = [writer.submit(event, frame) for _ in range(10)]
    assert time.perf_counter() - started < 0.1
    disk_busy.set()
    assert writer.stop()
    accepted = handed.count(True)
    assert writer.accepted_total == accepted and writer.dropped_total == 10 - accepted >= 7
    stats = outbox.stats()["sinks"]
    for sink in ("ve", "jsonl"):
        assert stats[sink]["dropped"] == writer.dropped_total  # type: ignore[index]
        assert stats[sink]["accepted"] == accepted  # type: ignore[index]


def test_events_export_writes_each_clip_inside_its_bundle_and_beside_it(tmp_path: Path) -> None:
    import time
    from dataclasses import replace

    from support.clips import decoded_frames, make_mp4

    from streamer.events.clips import ClipPlan

    db = tmp_path / "outbox.db"
    outbox = Outbox(db)
    plan = ClipPlan(pre_s=2, post_s=2, annotated=False, due_ts=time.time() + 600)
    ready, failed, plain = (replace(make_record(), clip=plan), replace(make_record(), clip=plan),
                            make_record())
    for record in (ready, failed, plain):
        outbox.add(record, ["bundle"])
    mp4 = make_mp4(1.0)
    outbox.attach_clip(ready.event_id, mp4, {"duration_s": 1.0})
    outbox.attach_clip(failed.event_id, None, {"reason": "no frames after the event"})
    outbox.close()
    out = tmp_path / "usb"
    result = run_cli("events", "export", "--bundle", str(out), "--outbox", str(db))
    assert result.returncode == 0, result.stderr
    clips = sorted(out.glob("*.mp4"))
    assert [c.name for c in clips] == [f"event_20250501T120000Z_{ready.event_id}.mp4"]
    assert clips[0].read_bytes() == mp4 and decoded_frames(clips[0].read_bytes())[0] == 10
    assert str(clips[0]) in result.stdout.splitlines()
    bundles = {f.name.split("_")[-1][:-7]: f for f in out.glob("*.tar.gz")}
    assert set(bundles) == {ready.event_id, failed.event_id, plain.event_id}
    with tarfile.open(bundles[ready.event_id]) as archive:
        payload = json.load(archive.extractfile("payload.json"))  # type: ignore[arg-type]
        assert archive.extractfile(payload["customMetadata"]["clip_file"]).read() == mp4  # type: ignore[union-attr]
    with tarfile.open(bundles[failed.event_id]) as archive:
        payload = json.load(archive.extractfile("payload.json"))  # type: ignore[arg-type]
    assert payload["customMetadata"]["clip_missing"] == "no frames after the event"
    shown = json.loads(run_cli("events", "show", ready.event_id, "--outbox", str(db)).stdout)
    assert shown["clip"]["state"] == "ready" and shown["clip"]["bytes"] == len(mp4)
