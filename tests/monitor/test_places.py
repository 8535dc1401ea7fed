"""The places API on a running camera's real monitor (issue 26): a saved zone lands in the
file with every comment kept, validates, and fires on the next frames; a refused one
leaves the file as it was; writes need the token and the page's own Origin; a zone in
pixels stays in pixels; the preview gives what a replay of the same detections does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import read_jsonl, run_cli, running, wait_for
from support.places import (  # noqa: F401
    FPS,
    LEFT_AREA,
    MIDDLE_LEFT,
    TOKEN,
    clip,
    comments,
    headers,
    places,
    put,
    site,
)

from streamer.config import load_config
from streamer.detect.replay import replay_detections
from streamer.rules import build_rules
from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame
from streamer.track import Tracker

pytestmark = pytest.mark.integration


def test_a_saved_zone_is_in_the_file_validates_and_fires_within_two_seconds(tmp_path: Path, clip: Path) -> None:
    config = site(tmp_path, clip)
    original = config.read_text(encoding="utf-8")
    fired: list[tuple[float, RuleEvent]] = []

    def watch(frame: Frame, events: list[RuleEvent], took_s: float) -> None:
        fired.extend((time.monotonic(), event) for event in events)

    with running(config, watch_config=config, on_step=watch) as (runtime, url):
        shown = places(url)
        assert (shown["width"], shown["height"]) == (640, 360) and shown["editable"] is True
        assert shown["zones"][0] == {"id": "lane", "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]],
                                     "rules": ["lane-intrusion"]}
        wait_for(lambda: fired, 15, "a first alert in the old lane")
        assert all(event.detections.xyxy[0][0] >= 320 for _, event in fired)  # right half only

        asked_at = time.monotonic()
        answer = put(url, "lane", {"polygon": LEFT_AREA})
        saved_at = time.monotonic()
        print(f"\nPUT -> saved, validated and running (\"live\"): {saved_at - asked_at:.2f} s")
        assert answer.status_code == 200, answer.text
        saved = answer.json()
        assert saved["polygon"] == LEFT_AREA and saved["units"] == "fractions" and saved["live"] is True

        # A person in the new lane (the left half) fires the rule in this running process.
        def left_alert() -> float | None:
            return next((at for at, event in list(fired)
                         if at >= saved_at and event.detections.xyxy[0][2] <= 320), None)

        first_left = wait_for(left_alert, 10, "an alert for a person in the new lane")
        print(f"saved -> first alert in the new lane: {first_left - saved_at:.2f} s "
              f"(people enter every 1 s, need 2 frames at {FPS} fps)")
        assert places(url)["zones"][0]["polygon"] == LEFT_AREA

    text = config.read_text(encoding="utf-8")
    # The corners changed on their line (the comment after them stays, one space on);
    # every other line, comments included, is as it was.
    assert "    polygon: [[0.02, 0.3], [0.48, 0.3], [0.48, 0.9], [0.02, 0.9]] # right half for now\n" in text
    assert comments(text) == comments(original)
    changed = [(a, b) for a, b in zip(original.splitlines(), text.splitlines()) if a != b]
    assert len(text.splitlines()) == len(original.splitlines()) and len(changed) == 1
    backups = list(tmp_path.glob("site.yaml.*.bak"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == original
    checked = run_cli("validate", str(config))
    assert checked.returncode == 0 and ": ok" in checked.stdout, checked.stderr
    assert any(event["customMetadata"].get("rule_id") == "lane-intrusion" for event in read_jsonl(tmp_path / "events.jsonl"))


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Iterator[tuple[Path, str]]:
    """One running camera for every refused write: none of them may change its file."""
    tmp_path = tmp_path_factory.mktemp("refusing")
    config = site(tmp_path, clip)
    with running(config, watch_config=config) as (_, url):
        places(url)
        yield config, url


BOW_TIE = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BOW_TIE, "zones[0].polygon: the polygon's edges cross each other; list the corners in order around the zone"),
        ([[0.1, 0.1], [0.9, 0.1]], "zones[0].polygon: list should have at least 3 items after validation, not 2"),
        ([[0.1, 0.1], [1.2, 0.1], [0.5, 0.8]], "lane: corner 2 (1.2, 0.1) is out of the frame"),
        ([[0.1, 0.1], [-0.01, 0.1], [0.5, 0.8]], "lane: corner 2 (-0.01, 0.1) is out of the frame"),
    ],
    ids=["crossing-edges", "two-corners", "past-the-right-edge", "negative"],
)
def test_a_bad_polygon_gets_422_with_the_validate_message_and_the_file_stays(
    refusing: tuple[Path, str], body: list[list[float]], message: str
) -> None:
    config, url = refusing
    before = config.read_bytes()
    answer = put(url, "lane", {"polygon": body})
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["error"]
    if "zones[0]" in message:  # the file's line, as `streamer validate` names it
        assert f"{config}:14 zones[0].polygon" in answer.json()["error"]
    assert config.read_bytes() == before and not list(config.parent.glob("*.bak"))


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ({"token": None}, 401),
        ({"token": "wrong-token-0123456789"}, 401),
        ({"origin": "http://evil.example"}, 403),
    ],
    ids=["no-token", "wrong-token", "other-origin"],
)
def test_writes_want_the_token_and_the_pages_own_origin(
    refusing: tuple[Path, str], how: dict[str, Any], status: int
) -> None:
    config, url = refusing
    before = config.read_bytes()
    for path, method in (("/api/places/lane", "PUT"), ("/api/places/lane/preview", "POST")):
        answer = httpx.request(method, url + path, json={"polygon": LEFT_AREA}, headers=headers(url, **how), timeout=10)
        assert answer.status_code == status, (path, answer.text)
    assert config.read_bytes() == before and not list(config.parent.glob("*.bak"))
    # A form post from another site (no JSON) and a cross-site fetch are refused too.
    form = httpx.put(url + "/api/places/lane", content=b"polygon=1", timeout=10,
                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    fetched = httpx.put(url + "/api/places/lane", json={"polygon": LEFT_AREA}, timeout=10,
                        headers={"Authorization": f"Bearer {TOKEN}", "Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403
    assert config.read_bytes() == before
    assert httpx.get(url + "/api/places", timeout=10).status_code == 401


def test_a_zone_in_pixels_stays_in_pixels_and_a_new_line_is_added(tmp_path: Path, clip: Path) -> None:
    config = site(tmp_path, clip)
    with running(config, watch_config=config) as (_, url):
        places(url)
        moved = [[0.5, 0.1], [0.95, 0.1], [0.95, 0.3], [0.5, 0.3]]
        answer = put(url, "dock", {"polygon": moved})
        assert answer.status_code == 200, answer.text
        assert answer.json()["units"] == "pixels" and answer.json()["polygon"] == moved
        added = put(url, "gate", {"start": [0.25, 0.05], "end": [0.25, 0.95]})
        assert added.status_code == 200 and added.json()["added"] is True, added.text
        shown = places(url)
        assert shown["lines"] == [{"id": "gate", "start": [0.25, 0.05], "end": [0.25, 0.95], "rules": []}]
    text = config.read_text(encoding="utf-8")
    assert "polygon: [[320, 36], [608, 36], [608, 108], [320, 108]]" in text
    assert "lines:\n  - id: gate\n    start: [0.25, 0.05]\n    end: [0.25, 0.95]\nrules:" in text
    assert len(list(tmp_path.glob("site.yaml.*.bak"))) == 2
    assert load_config(config).zones[1].polygon == [(320, 36), (608, 36), (608, 108), (320, 108)]


def test_the_preview_lists_what_a_replay_of_the_same_detections_fires(tmp_path: Path, clip: Path) -> None:
    config = site(tmp_path, clip)
    recorded = tmp_path / "recorded.jsonl"
    with running(config, watch_config=config, record_detections=recorded) as (runtime, url):
        places(url)
        wait_for(lambda: runtime.summary.frames >= 45, 20, "4.5 s of frames")
        before = config.read_bytes()
        answer = httpx.post(f"{url}/api/places/lane/preview", json={"polygon": MIDDLE_LEFT},
                            headers=headers(url), timeout=30)
        assert answer.status_code == 200, answer.text
        assert config.read_bytes() == before  # a preview writes nothing
    preview = answer.json()
    assert preview["rules"] == ["lane-intrusion"] and preview["frames"] >= 45
    would = [(alert["rule"], alert["t_s"]) for alert in preview["would_fire"]]
    fired = [(alert["rule"], alert["t_s"]) for alert in preview["fired"]]
    assert len(fired) >= 4 and 1 <= len(would) < len(fired)
    assert all(alert["time"] and alert["description"] for alert in preview["would_fire"])

    # The detections this run recorded for the frames it processed (a real-time file drops
    # frames on a busy machine) up to the preview's last frame, tracked and put through
    # fresh rules, once with the lane moved the same way in a copy of the file.
    last = round(preview["to_t_s"] * FPS)
    rows = [json.loads(line) for line in recorded.read_text(encoding="utf-8").splitlines() if line.strip()]
    window = [row for row in rows if row["frame"] <= last]
    assert len(window) == preview["frames"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(config.read_text(encoding="utf-8").replace(
        "[[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]", str(MIDDLE_LEFT)), encoding="utf-8")
    assert replayed(edited, window) == would
    assert replayed(config, window) == fired


def replayed(path: Path, rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(rule, frame time) of every alert the config's rules fire on ``rows``."""
    config = load_config(path)
    tracker = Tracker(config.tracker, FPS)
    rules = build_rules(config, 640, 360)
    out: list[tuple[str, float]] = []
    for row in rows:
        t_s = row["frame"] / FPS
        tracked = tracker.update(t_s, replay_detections(row["detections"], "people"))
        for rule in rules:
            out += [(event.rule_id, round(event.t_s, 3)) for event in rule.update(t_s, tracked, 1e9 + t_s)]
    return out
