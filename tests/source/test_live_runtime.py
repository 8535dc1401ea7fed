"""The whole runtime against a real RTSP server that dies, hangs, freezes or starts late:
rule events keep flowing around the outage and the camera's health arrives as events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import box, read_jsonl, wait_for, write_config, write_replay
from support.rtsp import FAST, RtspServer

from streamer.config import load_config
from streamer.runtime import RunOptions, Runtime

pytestmark = [pytest.mark.integration, pytest.mark.system]


class Running:
    """A Runtime on its own thread, unbounded until the test stops it."""

    def __init__(self, tmp_path: Path, source: str, **camera: Any) -> None:
        # A person present for 10 frames, absent for 20 (0.8 s at 25 fps: longer than the
        # 0.4 s a count holds a tracked person the detector missed): the count rule fires
        # every 30 frames read, whatever the connection they came from (indices keep counting).
        rows = {i: [box("person", 100, 60, 140, 200)] for i in range(30000) if (i // 10) % 3 == 0}
        replay = write_replay(tmp_path / "dets.jsonl", rows)
        self.events_path = tmp_path / "events.jsonl"
        config_path = write_config(tmp_path / "site.yaml", {
            "camera": {"id": "dock-3", "source": source, **FAST, **camera},
            "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
            "rules": [{"id": "someone", "type": "count", "op": ">=", "threshold": 1, "clear_s": 0.1,
                       "cooldown_s": 0, "event": {"type": "inventory_count"}}],
            "sinks": [{"type": "jsonl", "path": str(self.events_path)}],
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "monitor": {"enabled": False},
        })
        self.runtime = Runtime(load_config(config_path), RunOptions(), report=lambda line: None)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.runtime.run()
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            self.error = exc

    def events(self, rule_id: str) -> list[dict[str, Any]]:
        return [e for e in read_jsonl(self.events_path) if e["customMetadata"]["rule_id"] == rule_id]

    def health_states(self) -> list[str]:
        return [e["customMetadata"]["health_state"] for e in self.events("camera-health")]

    def camera(self) -> dict[str, Any]:
        """The camera's section of /api/status (empty until the run has started)."""
        return self.runtime.status().get("camera", {})  # type: ignore[return-value]

    def state(self) -> str:
        return self.camera().get("state", "none")

    def stop(self) -> None:
        self.runtime.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:
        run.runtime.stop.set()
        run.thread.join(30)


def test_killed_camera_goes_offline_events_keep_flowing_and_frames_return(
    tmp_path: Path, clip: Path, running: list[Running]
) -> None:
    server = RtspServer(clip).start()
    try:
        run = Running(tmp_path, server.url("viewer:hunter2pw"))
        running.append(run)
        wait_for(lambda: len(run.events("someone")) >= 2, 20)
        server.kill()
        wait_for(lambda: run.state() == "offline", FAST["stall_timeout_s"])
        # The health event goes through the outbox to the sink while the camera is away.
        wait_for(lambda: run.health_states() == ["offline"], 5)
        health = run.events("camera-health")[0]
        assert health["eventType"] == "custom"
        assert health["eventData"]["value"] == "camera offline"
        assert health["images"][0]["objectDetections"] == []
        before = len(run.events("someone"))
        server.start()
        wait_for(lambda: len(run.events("someone")) > before, 10 + 2)
        run.stop()
        text = run.events_path.read_text()
        # Events leave the box: the health event names the camera by its id, not its URL.
        assert "hunter2pw" not in text and "127.0.0.1" not in text
        assert health["customMetadata"]["source"] == "dock-3"
    finally:
        server.kill()


def test_runtime_started_before_the_server_begins_when_it_comes_up(
    tmp_path: Path, clip: Path, running: list[Running]
) -> None:
    server = RtspServer(clip)
    run = Running(tmp_path, server.url())
    running.append(run)
    try:
        wait_for(lambda: run.state() == "offline", 5)
        server.start()
        wait_for(lambda: len(run.events("someone")) >= 1, 15)
        # The outage at start is reported once the pipeline is up, stamped when it began.
        wait_for(lambda: run.health_states() == ["offline"], 3)
        health, first_rule_event = run.events("camera-health")[0], run.events("someone")[0]
        assert health["timestamp"] < first_rule_event["timestamp"]
        run.stop()
    finally:
        server.kill()


def test_frozen_picture_raises_a_health_event(
    tmp_path: Path, frozen_clip: Path, running: list[Running]
) -> None:
    server = RtspServer(frozen_clip).start()
    try:
        run = Running(tmp_path, server.url())
        running.append(run)
        wait_for(lambda: run.health_states() == ["frozen"], 15)
        assert run.events("camera-health")[0]["eventData"]["value"] == "camera frozen"
        run.stop()
    finally:
        server.kill()


def test_server_that_never_sends_media_is_reopened_and_reported(
    tmp_path: Path, running: list[Running]
) -> None:
    silent = RtspServer(None, mode="silent").start()
    try:
        run = Running(tmp_path, silent.url(), health_events=["offline", "stalled"])
        running.append(run)
        wait_for(lambda: (run.camera().get("reconnects_total") or 0) >= 1, 15)
        assert run.state() == "offline"
        # No frame ever came, yet the camera's absence is already an event (black snapshot).
        wait_for(lambda: run.health_states() == ["offline"], 5)
        assert "gave no frame" in run.events("camera-health")[0]["customMetadata"]["reason"]
        run.stop()
        assert run.runtime.summary.ended_by == "a stop request"
    finally:
        silent.kill()


def test_offline_is_sent_once_per_outage_and_live_says_how_long(
    tmp_path: Path, clip: Path, running: list[Running]
) -> None:
    """Many failed attempts in one outage raise one `offline`, a hang then a death one
    `stalled` and one `offline`; each return is a `live` event with the time away."""
    server = RtspServer(clip).start()
    try:
        # A long read timeout, so a hang shows as a stall (the watchdog) rather than as
        # failed reads (docs/architecture.md, "Measured": a stalled read returns held frames twice first).
        run = Running(tmp_path, server.url(), reconnect_max_s=1, read_timeout_s=30,
                      health_events=["offline", "stalled", "live"])
        running.append(run)
        wait_for(lambda: run.health_states() == ["live"], 20)
        # Outage 1: the camera hangs (socket open, silent), then dies; 4+ attempts fail.
        server.pause()
        wait_for(lambda: run.state() == "stalled", FAST["stall_timeout_s"] + 3)
        server.kill()
        wait_for(lambda: run.camera()["reconnect_attempts"] >= 4, 20)
        assert run.state() == "offline"
        down_s = run.camera()["away_s"]
        server.start()
        wait_for(lambda: run.state() == "live", 10)
        # Outage 2: killed; 3+ attempts.
        wait_for(lambda: run.health_states()[-1] == "live", 5)
        server.kill()
        wait_for(lambda: run.camera()["reconnect_attempts"] >= 3, 20)
        server.start()
        wait_for(lambda: run.health_states().count("live") == 3, 15)
        assert run.health_states() == ["live", "stalled", "offline", "live", "offline", "live"]
        lives = [e for e in run.events("camera-health") if e["customMetadata"]["health_state"] == "live"]
        assert "away_s" not in lives[0]["customMetadata"]  # the start is no return
        first, second = (e["customMetadata"] for e in lives[1:])
        assert float(first["away_s"]) >= down_s and int(first["reconnect_attempts"]) >= 5
        assert float(second["away_s"]) >= 3 * 0.8 and int(second["reconnect_attempts"]) >= 4
        assert first["reason"].startswith("camera live: back after ")
        run.stop()
    finally:
        server.kill()
