"""The file sinks keep to their limits on a real disk: the JSONL file with its snapshots
and the bundle folder, by quota and age, each eviction counted in what a run reports."""


from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

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
from support.outcomes import send_in_order

from streamer.config.models import BundleSinkConfig, JsonlSinkConfig
from streamer.events.record import EventRecord
from streamer.events.sink_contract import Delivered
from streamer.sinks.bundle import BundleSink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.retention import Retention

pytestmark = pytest.mark.integration  # the CLI in a subprocess

def big_record(seed: int) -> EventRecord:
    base = make_record()
    return EventRecord(base.event_id, base.payload, [noisy_jpeg(seed)], time.time(), "lane")


def footprint(sink: JsonlSink) -> int:
    return sink.path.stat().st_size + sum(f.stat().st_size for f in sink.snapshots_dir.iterdir())


def test_jsonl_quota_evicts_the_oldest_events_with_their_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    limit = 100_000  # room for about four events of ~21 KB
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=path), Retention(max_bytes=limit))
    sent = [big_record(i) for i in range(12)]
    for record in sent:
        assert isinstance(send_in_order(sink, [record])[0], Delivered)
        assert footprint(sink) <= limit
    lines = read_jsonl(path)  # every line parses after the rewrites
    kept = [line["eventId"] for line in lines]
    assert 2 <= len(kept) < 5 and kept == [r.event_id for r in sent[-len(kept):]]  # the newest
    assert sink.evicted_total == len(sent) - len(kept)
    # The snapshots left are exactly those the kept lines name.
    named = {Path(image["file"]).name for line in lines for image in line["images"]}
    assert {f.name for f in sink.snapshots_dir.iterdir()} == named


def test_jsonl_lines_older_than_the_age_limit_go(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=path), Retention(ttl_s=3600))
    sent = [make_record() for _ in range(4)]
    assert all(isinstance(o, Delivered) for o in send_in_order(sink, sent))
    two_hours_ago = time.time() - 7200
    for record in sent[:2]:  # written two hours ago, as far as the disk can tell
        os.utime(sink.snapshots_dir / f"{record.event_id}_0.jpg", (two_hours_ago, two_hours_ago))
    assert sink.enforce_limits(now=time.time()) == 0  # the age is looked at once a minute
    assert sink.enforce_limits(now=time.time() + 61) == 2
    assert [line["eventId"] for line in read_jsonl(path)] == [r.event_id for r in sent[2:]]
    assert sink.evicted_total == 2 and len(list(sink.snapshots_dir.iterdir())) == 2


def test_bundle_folder_keeps_to_its_quota_and_age_and_spares_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    (folder / "notes.txt").write_bytes(os.urandom(50_000))  # not ours: never counted or removed
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=folder),
                      Retention(max_bytes=100_000, ttl_s=3600))
    sent = [big_record(i) for i in range(10)]
    for record in sent:
        assert isinstance(send_in_order(sink, [record])[0], Delivered)
    archives = sorted(folder.glob("event_*.tar.gz"), key=lambda p: p.stat().st_mtime)
    assert sum(p.stat().st_size for p in archives) <= 100_000
    kept = [p.name.rsplit("_", 1)[1].removesuffix(".tar.gz") for p in archives]
    assert 2 <= len(kept) < 5 and kept == [r.event_id for r in sent[-len(kept):]]
    assert sink.evicted_total == len(sent) - len(kept)
    assert (folder / "notes.txt").exists()
    # Age: the oldest archive left is made two hours old; the next check removes it.
    old = archives[0]
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    sink._quota.enforce(now=time.time() + 61)
    assert not old.exists() and sink.evicted_total == len(sent) - len(kept) + 1


def test_a_run_counts_file_evictions_in_summary_status_metrics_and_stats(tmp_path: Path) -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from streamer.config import load_config
    from streamer.runtime import RunOptions, Runtime

    video = make_video(tmp_path / "clip.mp4", frames=100, fps=20.0)
    rows: dict[int, list[dict[str, Any]]] = {}
    for k in range(5):
        rows.update(walker(range(20 * k, 20 * k + 20), x_start=200, x_step=10, y1=100))
    replay = write_replay(tmp_path / "dets.jsonl", rows)
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(video)},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}],
        "rules": [{"id": f"lane-{i}", "type": "zone", "zone": "lane", "min_frames": 2} for i in range(6)],
        # ~0.2 MB for 30 events with their snapshots: the sink keeps to a tenth of it
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl"), "max_mb": 0.05}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    })
    runtime = Runtime(load_config(config), RunOptions(progress_s=3600, drain_s=20),
                      report=lambda line: None)
    summary = runtime.run()
    assert summary.events_accepted == 30 and summary.pending == 0
    evicted = summary.sinks["jsonl"]["files_evicted"]
    kept = len(read_jsonl(tmp_path / "events.jsonl"))
    assert evicted == 30 - kept and 0 < kept < 30
    assert f"files evicted {evicted}" in "\n".join(summary.lines())
    assert summary.outputs == {"events (jsonl)": str(tmp_path / "events.jsonl")}  # named by the sink
    assert runtime.status()["sinks"]["jsonl"]["files_evicted_total"] == evicted
    metrics = {f.name: f for f in text_string_to_metric_families(
        generate_latest(runtime.metrics.registry).decode())}
    assert metrics["streamer_sink_files_evicted"].samples[0].value == evicted
    stats = run_cli("events", "stats", "--config", str(config))
    assert json.loads(stats.stdout)["sinks"]["jsonl"]["files_evicted"] == evicted
