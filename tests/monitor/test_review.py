"""Operators review alerts and snooze rules through a running camera's monitor and the
CLI (issue 16): real runtimes, real HTTP, a real outbox file, the real CLI."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import read_jsonl, run_cli, running, wait_for
from support.review import API_KEY, TOKEN, get, post, two_rule_config
from support.vision_events_server import VisionEventsServer

from streamer.config import load_config
from streamer.events.feedback import Feedback
from streamer.events.outbox import Outbox
from streamer.runtime import RunOptions, Runtime

pytestmark = pytest.mark.integration


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def _alerts(path: Path, rule: str) -> list[float]:
    return [_ts(e) for e in read_jsonl(path)
            if e["eventType"] != "custom" and e.get("customMetadata", {}).get("rule_id") == rule]


def test_a_snooze_silences_only_its_rule_ends_by_itself_and_survives_a_restart(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    config = two_rule_config(tmp_path, 400, [{"type": "jsonl", "path": str(events)}])
    with running(config, start_s=30, stop_s=30, drain_s=5) as (runtime, url):
        wait_for(lambda: _alerts(events, "left-in") and _alerts(events, "right-in"), 30, "both rules firing")
        answer = post(url, "/api/rules/left-in/snooze", {"for": 4, "by": "Ana"})
        assert answer.status_code == 200, answer.text
        until = answer.json()["until_ts"]
        start = until - 4
        status = get(url, "/api/status")
        assert status["review"]["snoozes"]["left-in"]["by"] == "Ana"
        wait_for(lambda: any(t > until + 1 for t in _alerts(events, "left-in")), 30, "left-in firing again")
        assert not [t for t in _alerts(events, "left-in") if start + 0.05 < t < until - 0.05]
        assert len([t for t in _alerts(events, "right-in") if start < t < until]) >= 2  # the other rule runs on
        assert "left-in" not in get(url, "/api/status")["review"]["snoozes"]  # ended by itself
        custom = [e for e in read_jsonl(events) if e["eventType"] == "custom"]
        assert custom and "left-in snoozed by Ana" in custom[0]["eventData"]["value"]
        # An hour now: it must outlive this run.
        assert post(url, "/api/rules/left-in/snooze", {"for": "1h"}).status_code == 200

    with running(config, start_s=30, stop_s=30, drain_s=5) as (runtime, url):
        assert "left-in" in get(url, "/api/status")["review"]["snoozes"]
        wait_for(lambda: runtime.status()["events"].get("by_rule", {}).get("right-in", 0) >= 3, 30,
                 "right-in firing in the second run")
        assert runtime.status()["events"]["by_rule"].get("left-in", 0) == 0
        assert runtime.status()["review"]["hidden_by_snooze"]["left-in"] >= 2
        assert post(url, "/api/rules/left-in/wake", {"by": "Ana"}).json()["woken"] is True
        wait_for(lambda: runtime.status()["events"]["by_rule"].get("left-in", 0) >= 1, 30,
                 "left-in firing once woken")


def test_writes_need_the_token_and_the_pages_own_origin(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    # left-in works a shift that lasts all day (UTC): it ends at the next midnight.
    config = two_rule_config(tmp_path, 300, [{"type": "jsonl", "path": str(events)}],
                             schedule={"hours": ["00:00-24:00"], "timezone": "UTC"})
    with running(config, start_s=30, stop_s=30, drain_s=5) as (runtime, url):
        event_id = wait_for(lambda: next((e["eventId"] for e in get(url, "/api/events")), None), 30, "an event")
        review = f"/api/events/{event_id}/review"
        refused = [
            post(url, review, {"verdict": "incorrect"}, token=None),
            post(url, review, {"verdict": "incorrect"}, token="wrong-token-0123456789"),
            post(url, review, {"verdict": "incorrect"}, origin="https://evil.example"),
            post(url, review, {"verdict": "incorrect"}, origin="http://127.0.0.1:1"),
            post(url, "/api/rules/left-in/snooze", {"for": "1h"}, origin="https://evil.example"),
            post(url, "/api/rules/left-in/snooze", {"for": "1h"}, token=None),
        ]
        assert [r.status_code for r in refused] == [401, 401, 403, 403, 403, 401]
        # A cross-site form post (no JSON) is refused too.
        form = httpx.post(url + review + f"?token={TOKEN}", data={"verdict": "incorrect"}, timeout=10)
        assert form.status_code == 415
        status = get(url, "/api/status")
        assert status["review"]["precision"] == {} and status["review"]["snoozes"] == {}
        assert not any(e["eventType"] in ("operator_feedback", "custom") for e in read_jsonl(events))
        handle = Outbox(tmp_path / "outbox.db")
        try:
            assert Feedback(handle.store).latest([event_id]) == {}
        finally:
            handle.close()
        # Bad input: one clear line, 4xx.
        assert post(url, review, {"verdict": "maybe"}).status_code == 400
        assert post(url, "/api/events/no-such-event/review", {"verdict": "correct"}).status_code == 404
        assert post(url, "/api/rules/no-such-rule/snooze", {"for": "1h"}).status_code == 404
        assert post(url, "/api/rules/right-in/snooze", {"for": "shift"}).status_code == 400  # no schedule
        assert get(url, "/api/status")["review"]["shift_end"]["left-in"].endswith("T00:00:00.000Z")
        until = post(url, "/api/rules/left-in/snooze", {"for": "shift"}).json()["until_ts"]
        assert until % 86400 == 0 and 0 < until - time.time() <= 86400
        # And the page's own request goes through.
        assert post(url, review, {"verdict": "incorrect"}).status_code == 200
        precision = get(url, "/api/status")["review"]["precision"]
        rule = next(iter(precision))
        assert precision[rule]["incorrect"] == 1 and precision[rule]["precision"] == 0.0
        # The terminal, while the run is live: its sender delivers the verdict within seconds.
        other = next(e["eventId"] for e in get(url, "/api/events?limit=200") if e["eventId"] != event_id)
        done = run_cli("events", "review", other, "correct", "--outbox", str(tmp_path / "outbox.db"))
        assert done.returncode == 0, done.stderr
        wait_for(lambda: any(e["eventType"] == "operator_feedback" and e["eventData"]["relatedEventId"] == other
                             for e in read_jsonl(events)), 15, "the terminal's verdict in the sink")
        metrics = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        assert f'streamer_rule_reviews{{rule="{rule}",stream_id="dock-3",verdict="incorrect"}} 1.0' in metrics
        assert "streamer_rule_precision{" in metrics


def test_a_terminal_review_of_a_finished_run_is_delivered_by_the_next_run(tmp_path: Path) -> None:
    with VisionEventsServer(api_key=API_KEY) as server:
        sinks = [{"type": "vision_events", "api_url": server.url, "api_key": API_KEY,
                  "use_case": "site-safety", "timeout_s": 5}]
        config = two_rule_config(tmp_path, 40, sinks, token=None, realtime=False)
        outbox = tmp_path / "outbox.db"

        def one_run() -> None:
            Runtime(load_config(config), RunOptions(progress_s=3600, drain_s=20), report=lambda line: None).run()

        one_run()
        with server.lock:
            alerts = [e for e in server.events.values() if e["eventType"] == "safety_alert"]
        assert alerts
        reviewed = alerts[0]["eventId"]

        done = run_cli("events", "review", reviewed[:13], "incorrect", "--by", "Night lead", "--outbox", str(outbox))
        assert done.returncode == 0, done.stderr
        assert "operator_feedback" in done.stdout
        listed = run_cli("events", "ls", "--unreviewed", "--outbox", str(outbox))
        assert reviewed not in listed.stdout and alerts[1]["eventId"] in listed.stdout
        stats = run_cli("events", "stats", "--outbox", str(outbox))
        assert '"precision": 0.0' in stats.stdout
        bad = run_cli("events", "review", reviewed, "perhaps", "--outbox", str(outbox))
        assert bad.returncode != 0 and "Traceback" not in bad.stderr

        one_run()
        with server.lock:
            feedback = [e for e in server.events.values() if e["eventType"] == "operator_feedback"]
        assert len(feedback) == 1
        assert feedback[0]["eventData"] == {"relatedEventId": reviewed, "feedback": "incorrect"}
        assert (feedback[0]["deviceId"], feedback[0]["streamId"]) == ("edge-box-07", "dock-3")
        handle = Outbox(outbox)
        try:
            assert Feedback(handle.store).latest([reviewed]) == {reviewed: "incorrect"}
        finally:
            handle.close()
