"""The real pipeline end to end: video file -> replay detections -> ByteTrack -> zone rule
-> outbox -> JSONL sink and a local Vision Events server. Exact events asserted."""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import cv2
import pytest
from support import API_KEY, read_jsonl, run_cli, run_in_process, scene, wait_for, walker
from support.vision_events_server import VisionEventsServer

from streamer.config import load_config
from streamer.runtime import RunOptions, Runtime

pytestmark = pytest.mark.integration






def two_walkers() -> dict[int, list[dict[str, Any]]]:
    # A walks right from x=200 at 10 px/frame: foot x = 220 + 10 i, on the edge at i = 10
    # (inside the zone's band, 5 % of the 110 px box), past the band from i = 11, so 3
    # frames in at i = 13 -> t = 1.3 s.
    rows = walker(range(0, 40), x_start=200, x_step=10, y1=100)
    # B stands still inside the zone from frame 20. ByteTrack confirms a new track on its
    # second frame (21); first seen inside counts as an enter, 3 frames later: 2.3 s.
    for frame in range(20, 40):
        rows.setdefault(frame, []).append(
            {"class": "person", "x1": 500, "y1": 200, "x2": 540, "y2": 330, "confidence": 0.8})
    # A forklift in the zone: not a class the rule follows.
    for frame in range(0, 10):
        rows.setdefault(frame, []).append(
            {"class": "forklift", "x1": 400, "y1": 50, "x2": 600, "y2": 300, "confidence": 0.9})
    return rows




def test_zone_events_land_in_jsonl_exactly(tmp_path: Path, video: Path) -> None:
    events_path = tmp_path / "out" / "events.jsonl"
    config = scene(tmp_path, video, two_walkers(), [{"type": "jsonl", "path": str(events_path)}])

    summary = run_in_process(config)

    assert summary.frames == 60 and summary.ended_by == "end of input"
    lines = read_jsonl(events_path)
    assert [(line["customMetadata"]["track_id"], line["eventData"]["description"]) for line in lines] == [
        (0, "person #0 in lane"), (2, "person #2 in lane")]  # the forklift is track 1
    first, second = lines
    # Frame time 1.3 s / 2.3 s after the run's start: the timestamps are 1.0 s apart.
    from datetime import datetime
    t1, t2 = (datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")) for line in lines)
    assert abs((t2 - t1).total_seconds() - 1.0) < 1e-3
    assert first["eventType"] == "safety_alert"
    assert first["deviceId"] == "edge-box-07" and first["streamId"] == "dock-3"
    assert first["eventData"] == {"alertType": "zone_intrusion", "severity": "high",
                                  "description": "person #0 in lane"}
    assert first["customMetadata"]["rule_id"] == "lane-intrusion"
    assert first["customMetadata"]["zone"] == "lane"
    (image,) = first["images"]
    (det,) = image["objectDetections"]
    # Frame 13: box x 330..370, y 100..210 -> centre (350, 155), 40 x 110.
    assert (det["class"], det["x"], det["y"], det["width"], det["height"]) == ("person", 350, 155, 40, 110)
    snapshot = cv2.imread(image["file"])
    assert snapshot is not None and snapshot.shape == (360, 640, 3)
    assert summary.events_accepted == 2 and summary.pending == 0 and summary.dead == 0


def test_same_input_twice_gives_the_same_events(tmp_path: Path, video: Path) -> None:
    def events(run_dir: Path) -> list[tuple[Any, ...]]:
        run_dir.mkdir()
        out = run_dir / "events.jsonl"
        run_in_process(scene(run_dir, video, two_walkers(), [{"type": "jsonl", "path": str(out)}]))
        return [(e["customMetadata"]["track_id"], e["eventData"]["description"],
                 e["images"][0]["objectDetections"]) for e in read_jsonl(out)]

    first = events(tmp_path / "a")
    assert first and first == events(tmp_path / "b")


def test_events_reach_the_vision_events_server(tmp_path: Path, video: Path) -> None:
    with VisionEventsServer(api_key=API_KEY, use_cases=("site-safety",)) as server:
        sink = {"type": "vision_events", "api_url": server.url, "api_key": API_KEY,
                "use_case": "site-safety"}
        events_path = tmp_path / "events.jsonl"
        config = scene(tmp_path, video, two_walkers(), [sink, {"type": "jsonl", "path": str(events_path)}])
        summary = run_in_process(config)
        assert summary.delivered == {"vision_events": 2, "jsonl": 2}
        local = {e["eventId"]: e for e in read_jsonl(events_path)}
        assert set(server.events) == set(local)
        for event_id, remote in server.events.items():
            assert remote["useCaseId"] == "site-safety"
            (image,) = remote["images"]
            assert server.uploads[image["sourceId"]][:2] == b"\xff\xd8"
            assert remote["eventData"] == local[event_id]["eventData"]
            assert server.post_counts[event_id] == 1


def test_backlog_waits_in_the_outbox_then_goes_first(tmp_path: Path, video: Path) -> None:
    server = VisionEventsServer(api_key=API_KEY, use_cases=("site-safety",))
    server.start()
    url = server.url
    server.stop()  # down: connection refused
    try:
        sink = {"type": "vision_events", "api_url": url, "api_key": API_KEY, "use_case": "site-safety"}
        config = scene(tmp_path, video, two_walkers(), [sink])
        down = run_in_process(config, drain_s=0.5)
        assert down.events_accepted == 2 and down.pending == 2 and down.delivered == {"vision_events": 0}
        rows = sqlite3.connect(tmp_path / "outbox.db").execute(
            "SELECT state, last_error FROM deliveries").fetchall()
        assert [state for state, _ in rows] == ["pending", "pending"]
        # Tried ones say why; one accepted during the backoff may not have been tried yet.
        assert any(error for _, error in rows)
        assert all(error is None or "refused" in error for _, error in rows)

        server.start()
        up = run_in_process(config, max_frames=5)  # no new events in 5 frames
        assert up.backlog_at_start == 2
        assert up.delivered == {"vision_events": 2} and up.pending == 0
        assert len(server.events) == 2
    finally:
        server.stop()


def test_stop_request_keeps_accepted_events(tmp_path: Path, video: Path) -> None:
    """A stop (Ctrl-C, SIGTERM) mid-run ends cleanly; what was accepted stays accounted for."""
    events_path = tmp_path / "events.jsonl"
    config = scene(tmp_path, video, two_walkers(), [{"type": "jsonl", "path": str(events_path)}])
    stop = threading.Event()
    accepted: list[str] = []

    def report(line: str) -> None:
        accepted.append(line)

    def stop_after_frame_30(frame: Any, _events: Any, _seconds: float) -> None:
        if frame.index == 30:
            stop.set()

    runtime = Runtime(load_config(config), RunOptions(progress_s=60, on_step=stop_after_frame_30),
                      stop=stop, report=report)
    summary = runtime.run()
    assert summary.ended_by == "a stop request"
    assert summary.frames == 31
    db = sqlite3.connect(tmp_path / "outbox.db")
    total = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert total == summary.events_accepted == 2
    delivered = len(read_jsonl(events_path))
    pending = db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").fetchone()[0]
    assert delivered + pending == 2


def test_record_then_replay_gives_the_same_events(tmp_path: Path, video: Path) -> None:
    first_out = tmp_path / "first.jsonl"
    config = scene(tmp_path, video, two_walkers(), [{"type": "jsonl", "path": str(first_out)}])
    recorded = tmp_path / "recorded.jsonl"
    saved = tmp_path / "annotated.mp4"
    run_in_process(config, record_detections=recorded, save_video=saved)

    capture = cv2.VideoCapture(str(saved))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    capture.release()

    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second_out = second_dir / "events.jsonl"
    replayed = scene(second_dir, video, {}, [{"type": "jsonl", "path": str(second_out)}])
    text = replayed.read_text().replace(str(second_dir / "dets.jsonl"), str(recorded))
    replayed.write_text(text)
    run_in_process(replayed)
    strip = lambda rows: [(r["customMetadata"]["track_id"], r["eventData"]) for r in rows]  # noqa: E731
    assert strip(read_jsonl(second_out)) == strip(read_jsonl(first_out))


def test_cli_run_prints_progress_and_summary(tmp_path: Path, video: Path) -> None:
    events_path = tmp_path / "events.jsonl"
    config = scene(tmp_path, video, two_walkers(), [{"type": "jsonl", "path": str(events_path)}])
    result = run_cli("run", str(config), "--max-frames", "25", "--progress-s", "0.0001")
    assert result.returncode == 0, result.stderr
    assert "frames 1/60" in result.stderr
    assert "frames: 25 in" in result.stdout and "ended by --max-frames 25" in result.stdout
    assert "events: 2 accepted (lane-intrusion: 2)" in result.stdout
    assert len(read_jsonl(events_path)) == 2


def test_sigterm_stops_a_running_cli_cleanly(tmp_path: Path, video: Path) -> None:
    """SIGTERM mid-run: exit 0, a summary, and every accepted event in the sink or outbox."""
    import signal
    import subprocess
    import time as _time

    events_path = tmp_path / "events.jsonl"
    config = scene(tmp_path, video, two_walkers(), [{"type": "jsonl", "path": str(events_path)}])
    text = config.read_text().replace(f"source: {video}", f"source: {video}\n  realtime: true")
    config.write_text(text)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamer", "run", str(config), "--progress-s", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Paced at 10 fps, both events have fired by 2.3 s of video; stop at about 3.5 s.
    wait_for(lambda: len(read_jsonl(events_path)) == 2, 30, "both events in the sink")
    _time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "SIGTERM: stopping" in stderr
    assert "ended by a stop request" in stdout
    assert "Traceback" not in stderr
    assert len(read_jsonl(events_path)) == 2
    db = sqlite3.connect(tmp_path / "outbox.db")
    assert db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'").fetchone()[0] == 2


def test_duration_limit(tmp_path: Path, video: Path) -> None:
    config = scene(tmp_path, video, two_walkers(), [])
    config.write_text(config.read_text().replace(f"source: {video}", f"source: {video}\n  realtime: true"))
    summary = run_in_process(config, duration_s=1.0)
    assert summary.ended_by == "--duration 1"
    assert 5 <= summary.frames <= 12  # about 10 fps for 1 s
