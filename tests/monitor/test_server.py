"""The monitor's event list is the outbox's history: a restart does not empty it
(issue 26). Two real runs on one outbox; the second one's monitor lists the first's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from conftest import running
from review_helpers import TOKEN, first_run

pytestmark = pytest.mark.integration


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
