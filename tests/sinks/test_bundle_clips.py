"""Sinks and event clips (issue 17), through the real sender and real files: the bundle
sink holds an event back while its clip records, then carries the clip inside the archive;
without one it says why."""

from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support import make_record, wait_for
from support.clips import decoded_frames, make_mp4

from streamer.config.models import BundleSinkConfig
from streamer.events.clips import ClipPlan, StoredClip
from streamer.events.outbox import Outbox
from streamer.events.record import EventRecord
from streamer.events.sender import Sender
from streamer.sinks import bundle
from streamer.sinks.bundle import BundleSink, build_bundle

MP4 = make_mp4(1.0)


def with_plan(due_in_s: float) -> EventRecord:
    return replace(make_record(), clip=ClipPlan(pre_s=2, post_s=2, annotated=False,
                                                due_ts=time.time() + due_in_s))


def read_bundle(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with tarfile.open(path) as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]
    return json.loads(files.pop("payload.json")), files


def bundles(folder: Path) -> list[Path]:
    return sorted(folder.glob("event_*.tar.gz"))


def test_the_bundle_waits_for_the_clip_and_carries_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "out"))
    sender = Sender(sink, outbox, idle_s=0.1)
    sender.start()
    try:
        record, plain = with_plan(60), make_record()
        outbox.add(record, [sink.name])
        outbox.add(plain, [sink.name])
        # The plain event goes at once; the one expecting a clip waits for it.
        wait_for(lambda: len(bundles(tmp_path / "out")) == 1, 30, "the plain event's bundle")
        time.sleep(0.5)
        assert [p.name for p in bundles(tmp_path / "out")] == [bundle.bundle_name(plain)]
        outbox.attach_clip(record.event_id, MP4, {"duration_s": 1.0, "start_s": -0.5, "end_s": 0.5})
        sender.wake()
        wait_for(lambda: len(bundles(tmp_path / "out")) == 2, 30, "the clip's bundle")
    finally:
        assert sender.stop()
    payload, files = read_bundle(tmp_path / "out" / bundle.bundle_name(record))
    metadata = payload["customMetadata"]
    assert metadata["clip"] == "in_bundle" and metadata["clip_file"] == f"clips/{record.event_id}.mp4"
    assert (metadata["clip_duration_s"], metadata["clip_start_s"], metadata["clip_end_s"]) == (1.0, -0.5, 0.5)
    assert files[metadata["clip_file"]] == MP4
    assert decoded_frames(files[metadata["clip_file"]])[0] == 10
    assert outbox.counts()[sink.name] == {"pending": 0, "delivered": 2, "dead": 0}
    plain_payload, plain_files = read_bundle(tmp_path / "out" / bundle.bundle_name(plain))
    assert "clip" not in plain_payload["customMetadata"]
    assert not any(name.startswith("clips/") for name in plain_files)


def test_an_overdue_clip_lets_the_event_go_without_it_saying_why(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "out"))
    overdue, failed = with_plan(1.5), with_plan(60)
    outbox.add(overdue, [sink.name])
    outbox.add(failed, [sink.name])
    outbox.attach_clip(failed.event_id, None, {"reason": "the camera stopped sending"})
    sender = Sender(sink, outbox, idle_s=0.1)
    started = time.time()
    sender.start()
    try:
        wait_for(lambda: len(bundles(tmp_path / "out")) == 1, 30, "the failed clip's event")
        wait_for(lambda: len(bundles(tmp_path / "out")) == 2, 30, "the overdue event")
    finally:
        assert sender.stop()
    assert time.time() - started >= 1.0  # it did wait for the clip until due
    for record, reason in ((overdue, "not ready by its due time"), (failed, "the camera stopped sending")):
        payload, files = read_bundle(tmp_path / "out" / bundle.bundle_name(record))
        assert payload["customMetadata"]["clip"] == "missing"
        assert payload["customMetadata"]["clip_missing"] == reason
        assert not any(name.startswith("clips/") for name in files)


def test_a_clip_too_big_for_a_bundle_is_left_out_not_the_event(monkeypatch: pytest.MonkeyPatch) -> None:
    clip = make_mp4(1.0, noise=True)
    monkeypatch.setattr(bundle, "MAX_BUNDLE_BYTES", len(clip) // 2)  # a 25 MiB limit, scaled down
    record = make_record()
    record = replace(record, stored_clip=StoredClip(record.event_id, "ready", 0.0, clip, {}))
    data = build_bundle(record, None)
    assert len(data) <= len(clip) // 2
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        payload = json.loads(archive.extractfile("payload.json").read())  # type: ignore[union-attr]
        names = archive.getnames()
    assert not any(name.startswith("clips/") for name in names)
    assert payload["customMetadata"]["clip"] == "missing"
    assert "too big" in payload["customMetadata"]["clip_missing"]


def test_jsonl_with_send_clip_writes_the_clip_beside_the_snapshots_and_evicts_it_with_the_line(
    tmp_path: Path,
) -> None:
    from support import read_jsonl

    from streamer.config.models import JsonlSinkConfig
    from streamer.sinks.jsonl import JsonlSink
    from streamer.sinks.retention import Retention

    outbox = Outbox(tmp_path / "outbox.db")
    clip = make_mp4(1.0, noise=True)
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=tmp_path / "events.jsonl", send_clip=True),
                     Retention.of(2.5 * len(clip) / 2**20, None))
    sender = Sender(sink, outbox, idle_s=0.1)
    sender.start()
    try:
        first = with_plan(60)
        outbox.add(first, [sink.name])
        time.sleep(0.5)
        assert read_jsonl(tmp_path / "events.jsonl") == []  # waiting for its clip
        outbox.attach_clip(first.event_id, clip, {})
        sender.wake()
        wait_for(lambda: len(read_jsonl(tmp_path / "events.jsonl")) == 1, 30, "the line with its clip")
        [line] = read_jsonl(tmp_path / "events.jsonl")
        path = Path(line["customMetadata"]["clip_file"])
        assert line["customMetadata"]["clip"] == "file"
        assert path == sink.snapshots_dir / f"{first.event_id}.mp4" and path.read_bytes() == clip
        # Two more clips pass the sink's quota: the oldest line goes, its clip file with it.
        for _ in range(2):
            record = with_plan(60)
            outbox.add(record, [sink.name])
            outbox.attach_clip(record.event_id, clip, {})
        sender.wake()
        wait_for(lambda: outbox.counts()[sink.name]["delivered"] == 3, 30, "all three delivered")
    finally:
        assert sender.stop()
    ids = [line["eventId"] for line in read_jsonl(tmp_path / "events.jsonl")]
    assert first.event_id not in ids and not path.exists()
    assert sink.evicted_total >= 1
