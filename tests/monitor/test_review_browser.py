"""An operator in headless Chromium, phone-sized, reviews an alert and snoozes a rule on a
running camera's monitor (issue 16); the Vision Events test server gets the verdict."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from support import phone_page, require_program, running, wait_for
from support.review import API_KEY, TOKEN, get, two_rule_config
from support.vision_events_server import VisionEventsServer

pytestmark = [pytest.mark.integration, pytest.mark.system]


def test_review_and_snooze_from_the_page(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium", "chromium")
    with VisionEventsServer(api_key=API_KEY) as server:
        sinks = [{"type": "vision_events", "api_url": server.url, "api_key": API_KEY,
                  "use_case": "site-safety", "timeout_s": 5}]
        config = two_rule_config(tmp_path, 600, sinks)
        with running(config, start_s=30, stop_s=30, drain_s=5) as (runtime, url), sync_playwright() as playwright:
            with phone_page(playwright, chromium) as page:
                page.goto(f"{url}/?token={TOKEN}")
                page.fill("#who", "Ana")
                page.locator("#who").dispatch_event("change")
                row = page.locator("[data-event-id]").first
                row.wait_for(timeout=30000)
                event_id = row.get_attribute("data-event-id")
                assert event_id
                assert row.locator("img").count() == 1 and "entered" in row.inner_text()
                rule = next(e["rule_id"] for e in get(url, "/api/events?limit=200") if e["eventId"] == event_id)
                row.get_by_role("button", name="Incorrect").click()

                def feedback() -> dict | None:
                    with server.lock:
                        return next((e for e in server.events.values()
                                     if e["eventType"] == "operator_feedback"), None)

                sent = wait_for(feedback, 30, "the operator_feedback event at the server")
                assert sent["eventData"] == {"relatedEventId": event_id, "feedback": "incorrect"}
                assert (sent["deviceId"], sent["streamId"]) == ("edge-box-07", "dock-3")
                assert sent["customMetadata"]["reviewer"] == "Ana"
                precision = get(url, "/api/status")["review"]["precision"][rule]
                assert (precision["reviewed"], precision["incorrect"], precision["precision"]) == (1, 1, 0.0)
                card = page.locator(f"[data-rule='{rule}']")
                wait_for(lambda: "0% correct of 1 review" in card.inner_text(), 15, "precision on the card")
                words = card.inner_text()
                assert "people inside" in words or "person inside" in words
                assert "last alert" in words and " this run" in words and "fired_total" not in words

                # Snooze left-in for 15 min from its card; right-in keeps firing.
                left = page.locator("[data-rule='left-in']")
                left.get_by_role("button", name="Snooze 15 min").click()
                wait_for(lambda: "Snoozed by Ana" in left.inner_text(), 15, "the snooze on the page")
                assert "left-in" in get(url, "/api/status")["review"]["snoozes"]
                before = runtime.status()["events"]["by_rule"]
                time.sleep(3.5)
                after = runtime.status()["events"]["by_rule"]
                assert after["left-in"] == before["left-in"] and after["right-in"] >= before["right-in"] + 1
                wait_for(lambda: re.search(r"[1-9]\d* alerts? held back", left.inner_text()), 5,
                         "held-back alerts on the card")
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
                left.get_by_role("button", name="Wake now").click()
                wait_for(lambda: "Snoozed" not in left.inner_text(), 15, "the wake on the page")
                wait_for(lambda: runtime.status()["events"]["by_rule"]["left-in"] > after["left-in"], 15,
                         "left-in firing once woken")
                with server.lock:
                    records = [e["eventData"]["value"] for e in server.events.values() if e["eventType"] == "custom"]
                assert any("left-in snoozed by Ana" in value for value in records)
