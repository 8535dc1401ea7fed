"""The monitor page on a phone, after a restart: the earlier run's events are listed,
above the rule cards, filtered by rule and paged with "Older events" (issue 26)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import phone_page, require_program, running, wait_for
from review_helpers import TOKEN, first_run

pytestmark = [pytest.mark.integration, pytest.mark.system]


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
