"""An event's clip on the monitor (issue 17): ``/api/events/{id}/clip.mp4`` behind the same
token and Host checks as every route, with byte ranges for seeking, and the event's card
playing it in a real Chromium."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import supervision as sv
from support import phone_page, require_program, wait_for
from support.clips import decoded_frames, make_mp4, plan, record

from streamer.assets import sample_video
from streamer.config.models import EventSpec
from streamer.events.clips import ClipPlan
from streamer.events.outbox import Outbox
from streamer.events.writer import EventWriter
from streamer.monitor import LiveView, Metrics, Monitor, MonitorFeed
from streamer.pipeline.events import EventsStage
from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame

pytestmark = pytest.mark.integration

TOKEN = "clip-token-0123456789"


@contextmanager
def served(tmp_path: Path) -> Iterator[tuple[EventsStage, str]]:
    """The events stage on a real outbox, and a monitor serving its events and clips."""
    outbox = Outbox(tmp_path / "outbox.db")
    stage = EventsStage(EventWriter(outbox, ["bundle"], "edge-box-07", "dock-3",
                                    lambda frame, event: frame.image))
    stage.start()
    feed = MonitorFeed(live=LiveView(lambda frame, dets: frame.image, max_fps=1), status=dict,
                       events=stage.recent, event_image=stage.image, event_clip=stage.clip,
                       metrics=Metrics(dict))
    monitor = Monitor(feed, "127.0.0.1:0", TOKEN)
    monitor.start()
    try:
        yield stage, monitor.url.rstrip("/")
    finally:
        monitor.stop()
        stage.stop(give_up_s=1)
        outbox.close()


def submit(stage: EventsStage, event_id: str) -> None:
    event = RuleEvent("lane", 0.0, EventSpec(description="Person in lane"), sv.Detections.empty(),
                      "person entered lane")
    image = np.full((120, 160, 3), 90, np.uint8)
    stage.submit(event, Frame(image=image, index=0, t_s=0.0, wall_ts=time.time()), event_id=event_id,
                 clip=ClipPlan(pre_s=2, post_s=2, annotated=False, due_ts=time.time() + 600))
    wait_for(lambda: any(e["eventId"] == event_id for e in stage.recent()), 30, "the event stored")


def test_the_clip_route_serves_ranges_behind_the_token_and_host_checks(tmp_path: Path) -> None:
    mp4 = make_mp4(2.0)
    with served(tmp_path) as (stage, url), httpx.Client(base_url=url, timeout=10) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        path = "/api/events/evt-1/clip.mp4"
        submit(stage, "evt-1")
        answer = client.get(path, headers=auth)
        assert answer.status_code == 404 and "recording" in answer.json()["error"]
        assert client.get("/api/events/nope/clip.mp4", headers=auth).status_code == 404
        stage.attach_clip("evt-1", mp4, {"duration_s": 2.0})
        wait_for(lambda: client.get(path, headers=auth).status_code == 200, 30, "the clip served")
        # Same rules as every route: no token, no clip; a foreign Host, no clip.
        assert client.get(path).status_code == 401
        assert client.get(path, headers={**auth, "Host": "rebind.attacker.example"}).status_code == 421
        whole = client.get(path, params={"token": TOKEN})
        assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
        assert whole.content == mp4 and decoded_frames(whole.content)[0] == 20
        size = len(mp4)
        for asked, start, end in (("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1),
                                  ("bytes=-50", size - 50, size - 1), (f"bytes=10-{size * 2}", 10, size - 1)):
            part = client.get(path, headers={**auth, "Range": asked})
            assert part.status_code == 206, asked
            assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
            assert part.content == mp4[start:end + 1]
        past = client.get(path, headers={**auth, "Range": f"bytes={size}-"})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
        # The page's list says which events have a clip ready.
        listed = client.get("/api/events", headers=auth).json()
        assert [(e["eventId"], e["clip"]) for e in listed] == [("evt-1", "ready")]



def test_a_range_of_any_length_never_raises(tmp_path: Path) -> None:
    """4,300 digits and more (past int()'s limit): 416 or the whole clip, never a 500 and
    a logged traceback (issue 28)."""
    mp4 = make_mp4(1.0)
    huge = "9" * 5000
    with served(tmp_path) as (stage, url), httpx.Client(base_url=url, timeout=10) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        path = "/api/events/evt-1/clip.mp4"
        submit(stage, "evt-1")
        stage.attach_clip("evt-1", mp4, {"duration_s": 1.0})
        wait_for(lambda: client.get(path, headers=auth).status_code == 200, 30, "the clip served")
        size = len(mp4)
        for asked, status, body in ((f"bytes={huge}-", 416, b""), (f"bytes=0-{huge}", 206, mp4),
                                    (f"bytes=-{huge}", 206, mp4), (f"bytes={huge}-{huge}", 416, b""),
                                    (f"bytes=0{huge}-", 416, b"")):
            part = client.get(path, headers={**auth, "Range": asked})
            assert part.status_code == status, asked[:20]
            assert part.content == body
            if status == 206:
                assert part.headers["content-range"] == f"bytes 0-{size - 1}/{size}"

@pytest.mark.system
def test_the_event_card_plays_its_clip_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium", "chromium")
    with served(tmp_path) as (stage, url), sync_playwright() as playwright:
        with phone_page(playwright, chromium) as page:
            submit(stage, "evt-1")
            # No camera here: the live picture never loads, so wait for the DOM only.
            page.goto(f"{url}/?token={TOKEN}", wait_until="domcontentloaded")
            card = page.locator("[data-event-id='evt-1']")
            card.wait_for(timeout=30000)
            wait_for(lambda: "clip recording…" in card.inner_text(), 15, "the recording note")
            assert card.locator("video").count() == 0
            # A clip as the recorder makes it: bikes.mp4's own H.264 packets, copied.
            mp4, meta, _ = record(sample_video(), {100: plan(1.0, 2.0)})["event-100"]
            assert meta["copied"] is True
            stage.attach_clip("evt-1", mp4, meta)
            video = card.locator("video")
            video.wait_for(timeout=30000)
            assert "clip recording" not in card.inner_text()
            wait_for(lambda: video.evaluate("v => v.readyState") >= 2, 30, "the clip loaded")
            assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [640, 272]
            assert video.evaluate("v => v.controls") is True
            video.evaluate("v => v.play()")
            wait_for(lambda: video.evaluate("v => v.currentTime") > 0.3, 30, "the clip playing")
            # The next event redraws the list; the clip keeps playing in the same element.
            video.evaluate("v => { window.playing = v; }")
            submit(stage, "evt-2")
            page.locator("[data-event-id='evt-2']").wait_for(timeout=30000)
            assert card.locator("video").evaluate("v => v === window.playing && !v.paused")
