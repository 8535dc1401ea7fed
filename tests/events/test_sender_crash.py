"""`kill -9` of a running `streamer run` in the middle of delivery, then a restart.

The runtime is a real subprocess on a realtime file source (so events keep coming while
it delivers) and the local Vision Events server answers slowly, so the kill lands with
uploads and posts in flight. After a restart on the same outbox: every event the outbox
accepted is at the server, none twice, and nothing the outbox does not know of.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support import make_video, run_cli, walker, write_config, write_replay
from support.vision_events_server import Delay, VisionEventsServer

pytestmark = pytest.mark.integration

API_KEY = "crash-test-key-42"
RULES = 20  # each walker entering the zone fires every rule: many events, quickly


def crash_scene(tmp_path: Path, url: str) -> Path:
    video = make_video(tmp_path / "clip.mp4", frames=100, fps=20.0)
    rows: dict[int, list[dict[str, Any]]] = {}
    for k in range(5):  # walker k crosses into the right half around frame 20 k + 12
        rows.update(walker(range(20 * k, 20 * k + 20), x_start=200, x_step=10, y1=100))
    replay = write_replay(tmp_path / "dets.jsonl", rows)
    rules = [
        {"id": f"lane-{i}", "type": "zone", "zone": "lane", "min_frames": 2, "cooldown_s": 0}
        for i in range(RULES)
    ]
    return write_config(tmp_path / "site.yaml", {
        "device_id": "edge-box-07",
        "camera": {"id": "dock-3", "source": str(video), "realtime": True},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}],
        "rules": rules,
        "sinks": [{"type": "vision_events", "api_url": url, "api_key": API_KEY,
                   "use_case": "site-safety", "timeout_s": 5}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
    })


def _pending(path: Path) -> int:
    # The outbox is WAL: reading it beside the running process is safe.
    db = sqlite3.connect(path, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


def test_kill_9_mid_delivery_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with VisionEventsServer(api_key=API_KEY, use_cases=("site-safety",)) as server:
        server.script(*[Delay(0.03)] * 5000)  # slow answers: delivery trails the events
        config = crash_scene(tmp_path, server.url)
        process = subprocess.Popen(
            [sys.executable, "-m", "streamer", "run", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while _pending(tmp_path / "outbox.db") == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            # The events CLI reads the outbox beside the running writer (WAL).
            stats = run_cli("events", "stats", "--config", str(config), timeout=30)
            assert stats.returncode == 0, stats.stderr
            assert json.loads(stats.stdout)["sinks"]["vision_events"]["accepted"] > 0
            # Kill once some events reached the server and more wait in the outbox.
            while time.monotonic() < deadline and process.poll() is None:
                with server.lock:
                    stored = len(server.events)
                if stored >= 10 and _pending(tmp_path / "outbox.db") >= 5:
                    break
                time.sleep(0.02)
            assert process.poll() is None, process.communicate()[1]
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        db = sqlite3.connect(tmp_path / "outbox.db")
        accepted_first = {row[0] for row in db.execute("SELECT event_id FROM events")}
        pending_first = db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").fetchone()[0]
        db.close()
        with server.lock:
            at_server_first = set(server.events)
        assert pending_first > 0, "the kill came after delivery finished: not a mid-delivery kill"
        assert at_server_first <= accepted_first

        # Restart on the same outbox; one frame, so it only delivers the backlog.
        server.script()  # (the delay script goes on: a slow server after the restart too)
        result = run_cli("run", str(config), "--max-frames", "1", "--drain-s", "60", timeout=120)
        assert result.returncode == 0, result.stderr
        assert "from an earlier run" in result.stdout
        assert "sink vision_events: accepted" in result.stdout and "pending 0" in result.stdout

        db = sqlite3.connect(tmp_path / "outbox.db")
        accepted = {row[0] for row in db.execute("SELECT event_id FROM events")}
        states = db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        assert states == [("delivered", len(accepted))], states
        with server.lock:
            at_server = dict(server.post_counts)
        assert set(at_server) == accepted  # zero lost, nothing unknown to the outbox
        # At most the batch in flight at the kill is posted again (an overwrite by the
        # device-made eventId); everything else went exactly once.
        resent = [event_id for event_id, n in at_server.items() if n > 1]
        assert len(resent) <= 100 and all(n <= 2 for n in at_server.values())


def test_kill_during_an_acknowledgement_then_rerun_delivers_each_event_once_none_dead(
    tmp_path: Path,
) -> None:
    """The server stores a batch, the client is killed before it reads the answer; on the
    rerun the server answers 409 for those eventIds (a server that refuses duplicates):
    proof of delivery, not a refusal (issue 20)."""
    held, release = threading.Event(), threading.Event()

    def hold_the_answer(events: list[dict[str, Any]]) -> None:
        if len(events) >= 2 and not held.is_set():
            held.set()
            release.wait(60)

    with VisionEventsServer(api_key=API_KEY, use_cases=("site-safety",),
                            conflict_on_known=True, on_store=hold_the_answer) as server:
        server.script(*[Delay(0.03)] * 5000)  # slow answers: events pile up into batches
        config = crash_scene(tmp_path, server.url)
        process = subprocess.Popen(
            [sys.executable, "-m", "streamer", "run", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert held.wait(60), "no batch was posted"
            process.send_signal(signal.SIGKILL)  # the batch is stored, its answer unread
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
            release.set()
        with server.lock:
            stored_unacked = set(server.events)
        db = sqlite3.connect(tmp_path / "outbox.db")
        pending = {row[0] for row in db.execute(
            "SELECT event_id FROM deliveries WHERE state = 'pending'")}
        db.close()
        assert stored_unacked & pending, "the kill did not land between store and ack"

        result = run_cli("run", str(config), "--max-frames", "1", "--drain-s", "60", timeout=120)
        assert result.returncode == 0, result.stderr
        assert "pending 0" in result.stdout and "dead 0" in result.stdout, result.stdout

        db = sqlite3.connect(tmp_path / "outbox.db")
        accepted = {row[0] for row in db.execute("SELECT event_id FROM events")}
        states = db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        db.close()
        assert states == [("delivered", len(accepted))], states
        with server.lock:
            counts, conflicts = dict(server.post_counts), server.conflicts
        assert set(counts) == accepted and set(counts.values()) == {1}  # each stored once
        assert conflicts >= 1  # the resent events were answered 409, and taken as delivered
