"""The box's one monitor in headless Chromium: an overview of three cameras (state, rates,
latest alerts), each camera's own page under /cameras/{id}/, the box's status and metrics,
all behind the token."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import (
    box,
    free_port,
    make_video,
    phone_page,
    require_program,
    wait_for,
    walker,
    write_config,
    write_replay,
)

from streamer.config import load_config
from streamer.pipeline import RunOptions
from streamer.pipeline.box import Box

pytestmark = [pytest.mark.integration, pytest.mark.system]

TOKEN = "box-token-0123456789abcdef"
RIGHT_HALF = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
# Someone far left of the zone at the start: the replay can output a person (no blind rule).
FAR_LEFT = {0: [box("person", 10, 100, 50, 210)]}


def camera(tmp_path: Path, name: str, source: str, rows: dict[int, list[dict[str, Any]]],
           port: int) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    replay = write_replay(folder / "dets.jsonl", rows)
    return write_config(folder / "camera.yaml", {
        "camera": {"id": name, "source": source, "realtime": True, "loop": True,
                   "open_timeout_s": 1, "read_timeout_s": 1, "stall_timeout_s": 2},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": RIGHT_HALF}],
        "rules": [{"id": "lane-intrusion", "type": "zone", "zone": "lane", "classes": ["person"],
                   "min_frames": 3, "cooldown_s": 30,
                   "event": {"type": "safety_alert", "alert_type": "zone_intrusion",
                             "severity": "high", "description": "{class} #{track_id} in {zone}"}}],
        "sinks": [{"type": "jsonl", "path": str(folder / "events.jsonl")}],
        "outbox": {"path": str(folder / "outbox.db")},
        "monitor": {"bind": f"127.0.0.1:{port}", "token": TOKEN},
    })


def test_overview_shows_every_camera_and_leads_to_each_page(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium", "chromium")
    video = make_video(tmp_path / "clip.mp4", frames=300)
    port = free_port()
    paths = [
        camera(tmp_path, "dock-a", str(video), walker(range(0, 40), 200, 10, y1=100), port),
        camera(tmp_path, "dock-b", str(video), FAR_LEFT, port + 1),
        # Nobody answers on this port: the camera is offline from the start.
        camera(tmp_path, "gate", f"rtsp://127.0.0.1:{free_port()}/stream1", FAR_LEFT, port + 2),
    ]
    configs = [(path, load_config(path)) for path in paths]
    stop = threading.Event()
    box = Box(configs, RunOptions(progress_s=3600, drain_s=0), stop=stop, report=lambda line: None,
              monitor=configs[0][1])
    thread = threading.Thread(target=box.run, daemon=True)
    thread.start()
    try:
        monitor = wait_for(lambda: box.monitor, 30, "the box's monitor")
        url = monitor.url
        assert url == f"http://127.0.0.1:{port}/"  # the first camera's monitor.bind
        # The token guards the cameras' own routes too.
        assert httpx.get(url + "cameras/dock-a/api/status").status_code == 401
        with sync_playwright() as playwright, phone_page(playwright, chromium) as page:
            page.goto(f"{url}?token={TOKEN}")
            cards = page.locator("[data-camera]")
            wait_for(lambda: cards.count() == 3, 15, "three camera cards")
            assert [cards.nth(i).get_attribute("data-camera") for i in range(3)] == ["dock-a", "dock-b", "gate"]
            alert = page.locator("[data-camera=dock-a] .alert").first
            alert.wait_for(timeout=20000)
            assert "lane-intrusion: person #0 in lane" in alert.inner_text()
            assert page.locator("[data-camera=dock-b] .alert").count() == 0
            wait_for(lambda: page.locator("[data-camera=gate] .state").inner_text() == "offline",
                     15, "the gate camera shown offline")
            wait_for(lambda: page.locator("[data-camera=dock-a] .state").inner_text() == "live",
                     15, "dock-a shown live")
            # Each camera's own page, with its own events, one click away.
            page.locator("[data-camera=dock-a] h2 a").click()
            page.wait_for_url(f"{url}cameras/dock-a/?token={TOKEN}")
            page.locator("[data-event-id]").first.wait_for(timeout=15000)
            assert "person #0 in lane" in page.locator("#events").inner_text()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        status = httpx.get(url + "api/status", headers=headers).json()
        assert [c["id"] for c in status["cameras"]] == ["dock-a", "dock-b", "gate"]
        assert status["box"]["cameras"] == 3
        camera_a = httpx.get(url + "cameras/dock-a/api/status", headers=headers).json()
        assert camera_a["camera"]["id"] == "dock-a"
        metrics = httpx.get(url + "metrics", headers=headers).text
        for name in ("dock-a", "dock-b", "gate"):
            assert f'streamer_frames_total{{stream_id="{name}"}}' in metrics
        assert metrics.count("# HELP streamer_frames_total ") == 1
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
