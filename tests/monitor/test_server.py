"""The monitor's HTTP routes on a real runtime: "this view is right" (issue 27), and the
event list as the outbox's history, which a restart does not empty (issue 26). The writes
follow the rules of every monitor write: the token, the page's own Origin, a JSON body."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from conftest import running, wait_for, write_config
from review_helpers import TOKEN, first_run, get, post
from streamer.source.view import reference_path
from tamper_footage import play, vtest, write_clip

pytestmark = pytest.mark.integration


def test_this_view_is_right_takes_a_new_reference_and_foreign_writes_are_refused(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "plaza.mp4", play(vtest(), 8.0), 10.0)
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(clip), "realtime": True, "loop": True,
                   "tamper": {"every_s": 0.5}},
        "models": [{"id": "people", "kind": "replay", "path": str(tmp_path / "none.jsonl")}],
        "zones": [{"id": "lane", "polygon": [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"bind": "127.0.0.1:0", "token": TOKEN},
    })
    meta_path = reference_path(tmp_path / "outbox.db", "dock-3").with_suffix(".json")
    with running(config, start_s=30, stop_s=30) as (runtime, url):
        first = wait_for(lambda: (get(url, "/api/status")["camera"]["view"] or {}).get("reference"), 30,
                         "the first reference view")
        assert first["reason"] == "first run"
        path = "/api/camera/reference"
        refused = [
            post(url, path, {}, token=None),
            post(url, path, {}, token="wrong-token-0123456789"),
            post(url, path, {}, origin="https://evil.example"),
            httpx.post(url + path + f"?token={TOKEN}", data={"by": "x"}, timeout=10),  # a cross-site form
        ]
        assert [r.status_code for r in refused] == [401, 401, 403, 415]
        assert json.loads(meta_path.read_text())["reason"] == "first run"
        answer = post(url, path, {"by": "Ana"})
        assert answer.status_code == 202, answer.text
        wait_for(lambda: get(url, "/api/status")["camera"]["view"]["reference"]["reason"]
                 == "the operator said the view is right", 10, "the new reference view")
        assert json.loads(meta_path.read_text())["reason"] == "the operator said the view is right"
        assert get(url, "/api/status")["camera"]["state"] == "live"


def api(url: str, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, headers={"Authorization": f"Bearer {TOKEN}"},
                     timeout=10)


def test_a_restarted_camera_lists_the_earlier_runs_events(tmp_path: Path) -> None:
    config, earlier = first_run(tmp_path)
    ids = [str(e["eventId"]) for e in earlier]
    # The second run watches an empty scene (no detections), looping the video so it stays
    # up: whatever its monitor lists is history.
    (tmp_path / "dets.jsonl").write_text("")
    config.write_text(config.read_text().replace("realtime: false", "realtime: true\n  loop: true"))
    with running(config) as (_runtime, url):
        listed = api(url, "/api/events", limit=200).json()
        assert [e["eventId"] for e in listed] == ids[::-1]  # newest first, all of them
        newest = listed[0]
        assert newest["description"] and newest["delivery"] == "delivered"
        assert newest["rule_id"] in ("left-in", "right-in") and newest["verdict"] is None

        # Paged: the page after the 5th continues with the 6th.
        first = api(url, "/api/events", limit=5).json()
        rest = api(url, "/api/events", limit=200, before=first[-1]["eventId"]).json()
        assert [e["eventId"] for e in first + rest] == ids[::-1]

        # Filtered by rule, by review, by day (the events' UTC day, and the day before).
        left = api(url, "/api/events", limit=200, rule="left-in").json()
        assert left and {e["rule_id"] for e in left} == {"left-in"}
        judged = httpx.post(f"{url}/api/events/{ids[0]}/review", json={"verdict": "correct"},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert judged.status_code == 200, judged.text
        correct = api(url, "/api/events", verdict="correct").json()
        assert [e["eventId"] for e in correct] == [ids[0]]
        assert len(api(url, "/api/events", limit=200, verdict="none").json()) == len(ids) - 1
        day = str(earlier[0]["timestamp"])[:10]
        assert len(api(url, "/api/events", limit=200, day=day).json()) == len(ids)
        assert api(url, "/api/events", day="2001-01-01").json() == []

        # The earlier run's snapshots are served from the outbox.
        image = api(url, f"/events/{ids[0]}/snapshot.jpg")
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"

        for bad in ({"verdict": "maybe"}, {"day": "yesterday"}, {"limit": "many"}):
            answer = api(url, "/api/events", **bad)
            assert answer.status_code == 400 and answer.json()["error"]
