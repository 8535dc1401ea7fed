"""The monitor page in headless Chromium.

A knocked camera (issue 27): the badge says ``moved``, the Camera panel says by how much,
and "This view is right" makes the new view the reference, so the camera is ``live``
again. A real runtime on real footage paced as a camera, the reference view stored before
the camera was knocked.

After a restart, on a phone (issue 26): the earlier run's events are listed, above the
rule cards, filtered by rule and paged with "Older events".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import phone_page, require_program, running, wait_for, write_config
from support.review import TOKEN, first_run, get
from support.tamper_footage import play, shifted, vtest, write_clip

from streamer.source.view import ReferenceStore, reference_path, take_reference

pytestmark = [pytest.mark.integration, pytest.mark.system]

LANE = [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]


def test_a_moved_camera_on_the_page_and_this_view_is_right(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium", "chromium")
    footage = vtest()
    clip = write_clip(tmp_path / "knocked.mp4", play(footage, 10.0, shifted(0.10)), 10.0)
    places = {"zones": {"lane": LANE}, "lines": {}}
    take_reference(ReferenceStore(reference_path(tmp_path / "outbox.db", "dock-3")), "dock-3",
                   footage.at(0.0), places, "first run")
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(clip), "realtime": True, "loop": True,
                   "tamper": {"every_s": 1.0, "moved_hold_s": 2.0}},
        "models": [{"id": "people", "kind": "replay", "path": str(tmp_path / "none.jsonl")}],
        "zones": [{"id": "lane", "polygon": LANE}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"bind": "127.0.0.1:0", "token": TOKEN},
    })
    with running(config, start_s=30, stop_s=30) as (runtime, url), sync_playwright() as playwright:
        with phone_page(playwright, chromium) as page:
            page.goto(f"{url}/?token={TOKEN}")
            wait_for(lambda: page.locator("#health").inner_text() == "moved", 30, "moved on the page")
            camera = page.locator("#camera").inner_text()
            assert "the view moved" in camera and "px" in camera, camera
            page.get_by_role("button", name="This view is right").click()
            wait_for(lambda: page.locator("#health").inner_text() == "live", 30, "live again on the page")
            assert get(url, "/api/status")["camera"]["view"]["reference"]["reason"] == \
                "the operator said the view is right"


def test_history_on_a_phone(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium", "chromium")
    config, earlier = first_run(tmp_path, frames=100)
    assert len(earlier) > 12  # more than one page of the list
    (tmp_path / "dets.jsonl").write_text("")
    config.write_text(config.read_text().replace("realtime: false", "realtime: true\n  loop: true"))
    with running(config) as (_runtime, url), sync_playwright() as playwright:
        with phone_page(playwright, chromium) as page:
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}/?token={TOKEN}")
            rows = page.locator("#events [data-event-id]")
            wait_for(lambda: errors or rows.count() == 12, 15, "the first page of earlier events")
            assert not errors
            newest = str(earlier[-1]["eventId"])
            assert rows.first.get_attribute("data-event-id") == newest
            page.locator("[data-rule='left-in']").wait_for(timeout=15000)
            events_top = page.locator("#events-panel").bounding_box()["y"]
            rules_top = page.locator("[data-rule='left-in']").bounding_box()["y"]
            assert events_top < rules_top  # on a phone, events first

            page.locator("#older").click()
            wait_for(lambda: rows.count() == len(earlier), 15, "the older events")
            shown = [rows.nth(i).get_attribute("data-event-id") for i in range(rows.count())]
            assert shown == [str(e["eventId"]) for e in earlier[::-1]]

            page.select_option("#f-rule", "right-in")
            right = [e for e in earlier if e["customMetadata"]["rule_id"] == "right-in"]
            wait_for(lambda: rows.count() == min(12, len(right)), 15, "right-in's events only")
            assert all("right-in" in rows.nth(i).inner_text() for i in range(rows.count()))
