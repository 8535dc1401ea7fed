"""A corrupt outbox on a real SQLite file: pages overwritten with garbage bytes.

Whole-file corruption is found when the runtime opens the outbox: the file is moved aside
under a dated name and a fresh one started, with one warning line. A single event that
cannot be read back later (a payload that no longer parses, a broken overflow page under
its JPEG) is quarantined as dead with the reason, and the events behind it flow.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from support import (
    make_record,
    make_video,
    noisy_jpeg,
    read_jsonl,
    run_cli,
    walker,
    write_config,
    write_replay,
)

from streamer.config.models import JsonlSinkConfig
from streamer.events.outbox import Outbox
from streamer.events.record import EventRecord
from streamer.events.sender import Sender
from streamer.sinks.jsonl import JsonlSink

pytestmark = pytest.mark.integration

PAGE = 4096


def fill(path: Path, records: list[EventRecord]) -> None:
    outbox = Outbox(path)
    for record in records:
        outbox.add(record, ["jsonl"])
    outbox.close()
    # Everything into the main file, as after a clean shutdown.
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def test_a_corrupt_outbox_is_moved_aside_and_the_run_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    fill(db, [make_record() for _ in range(5)])
    conn = sqlite3.connect(db)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    conn.close()
    overwrite(db, (root - 1) * PAGE, os.urandom(PAGE))  # the events table's root page
    corrupt = db.read_bytes()

    video = make_video(tmp_path / "clip.mp4", frames=40)
    replay = write_replay(tmp_path / "dets.jsonl", walker(range(40), x_start=200, x_step=10, y1=100))
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(video)},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
        "rules": [{"id": "lane-intrusion", "type": "zone", "zone": "lane", "min_frames": 3}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(db)},
        "monitor": {"enabled": False},
    })
    result = run_cli("run", str(config), "--drain-s", "10", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "is corrupt" in line]
    assert len(warnings) == 1, result.stderr
    (aside,) = tmp_path.glob("outbox.db.corrupt-*[0-9]Z")
    assert aside.name in warnings[0] and "started a fresh one" in warnings[0]
    assert aside.read_bytes() == corrupt  # kept as it was, for salvage
    # The fresh outbox took this run's event and the sink got it.
    assert [line["customMetadata"]["rule_id"] for line in read_jsonl(tmp_path / "events.jsonl")] == [
        "lane-intrusion"]
    assert "events: 1 accepted" in result.stdout and "pending 0" in result.stdout
    assert Outbox(db).stats()["sinks"]["jsonl"]["delivered"] == 1  # type: ignore[index]


def test_an_unreadable_event_is_quarantined_and_the_rest_flows(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    marker = "garbled-description-" + "q" * 30
    bad_payload = make_record(eventData={"alertType": "zone_intrusion", "severity": "high",
                                         "description": marker})
    jpeg = noisy_jpeg(7, size=200)  # ~30 KB: its tail lives on overflow pages
    base = make_record()
    bad_image = EventRecord(base.event_id, base.payload, [jpeg], time.time(), "lane")
    records = [make_record(), bad_payload, make_record(), bad_image, make_record()]
    fill(db, records)

    raw = db.read_bytes()
    # 1. Garbage inside one payload: the page is sound, the JSON is not.
    at = raw.index(marker.encode())
    overwrite(db, at - 2, b"}{" * ((len(marker) + 4) // 2))
    # 2. An early overflow page under one JPEG overwritten: its chain points nowhere.
    for start in range(PAGE + 512, len(jpeg) - 2 * PAGE, 256):
        offset = raw.find(jpeg[start:start + 64])
        if offset > 0 and offset // PAGE == (offset + 63) // PAGE:
            break
    page = offset // PAGE
    overwrite(db, page * PAGE, b"\xff\xff\xff\xf0" + os.urandom(PAGE - 4))

    outbox = Outbox(db)  # a connection that reads the damaged file
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=tmp_path / "events.jsonl"))
    sender = Sender(sink, outbox, backoff_start_s=0.05, backoff_max_s=0.2, idle_s=0.05)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while outbox.pending_total(["jsonl"]) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sender.stop()
    delivered = [line["eventId"] for line in read_jsonl(tmp_path / "events.jsonl")]
    assert delivered == [records[i].event_id for i in (0, 2, 4)]
    dead = {event_id: reason for event_id, _, reason in outbox.dead()}
    assert set(dead) == {bad_payload.event_id, bad_image.event_id}
    assert all(reason.startswith("stored event cannot be read back") for reason in dead.values())
    assert "malformed" in dead[bad_image.event_id]
    assert sender.last_error == "" and sender.status == "ok"
