"""Replay detection files at their edges, through the real CLI: a bad value is refused
when the file is read, in one line naming file, line and key, before any frame runs (it
used to fail on every frame that held it and stop the run after 25 of them). An empty
file is a recording without detections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import box, make_video, read_jsonl, run_cli, walker, write_config

pytestmark = pytest.mark.integration

GOOD = box("person", 100, 150, 140, 260, 0.9)


def site(tmp_path: Path, replay: Path) -> Path:
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock", "source": str(tmp_path / "clip.mp4")},
        "models": [{"id": "m", "kind": "replay", "path": str(replay)}],
        "rules": [{"id": "crowd", "type": "count", "threshold": 1, "for_s": 0, "cooldown_s": 0}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    })


def with_bad_line(tmp_path: Path, bad: str) -> Path:
    """Frames 0-29 good, then ``bad`` as line 31: a run would get far before meeting it."""
    lines = [json.dumps({"frame": f, "detections": [GOOD]}) for f in range(30)] + [bad]
    path = tmp_path / "dets.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def detection(**change: Any) -> str:
    det = {**GOOD, **change}
    return json.dumps({"frame": 30, "detections": [GOOD, {k: v for k, v in det.items() if v is not ...}]})


CASES = [
    ("text confidence", detection(confidence="high"),
     "detections[1].confidence: input should be a valid number"),
    ("NaN coordinate", detection(x1=float("nan")), "detections[1].x1: input should be a finite number"),
    ("inf coordinate", detection(y2=float("inf")), "detections[1].y2: input should be a finite number"),
    ("huge coordinate", detection(x2=1e300), "detections[1].x2: input should be less than or equal to 1000000"),
    ("negative width", detection(x1=200), "detections[1]: negative size: x1..x2 200..140"),
    ("negative height", detection(y2=100), "detections[1]: negative size"),
    ("missing key", detection(y1=...), "detections[1].y1: required key is missing"),
    ("confidence over 1", detection(confidence=1.5), "detections[1].confidence: input should be less than or equal to 1"),
    ("class not text", detection(**{"class": 3}), "detections[1].class: input should be a valid string"),
    ("fractional frame", '{"frame": 1.5, "detections": []}', "frame: input should be a valid integer, got 1.5"),
    ("negative frame", '{"frame": -1, "detections": []}', "frame: input should be greater than or equal to 0"),
    ("frame as text", '{"frame": "3", "detections": []}', "frame: input should be a valid integer, got '3'"),
    ("absurd frame", '{"frame": 100000000000, "detections": []}', "frame: input should be less than or equal to"),
    ("no frame", '{"detections": []}', "frame: required key is missing"),
    ("not JSON", "frame 30: person", "not a JSON line"),
    ("torn line", '{"frame": 30, "detections": [{"class": "pers', "not a JSON line"),
    ("a list", "[30, []]", "the line: expected an object {...}"),
    ("detections not a list", '{"frame": 30, "detections": {"class": "person"}}', "detections: input should be a valid array"),
]


@pytest.mark.parametrize(("name", "bad", "expected"), CASES, ids=[case[0] for case in CASES])
def test_bad_replay_line_stops_the_run_before_the_first_frame(
    tmp_path: Path, name: str, bad: str, expected: str
) -> None:
    make_video(tmp_path / "clip.mp4", frames=5)
    replay = with_bad_line(tmp_path, bad)
    config = site(tmp_path, replay)
    result = run_cli("run", str(config))
    # The recording is read with the config (it tells which classes the rules can see):
    # a bad line is a config error naming the key that points at the file (issue 26).
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {config}:") and f" models[0].path: {replay}:31: " in line, line
    assert expected in line, line
    assert "source " not in result.stderr  # refused before the camera was opened
    assert read_jsonl(tmp_path / "events.jsonl") == []


def test_bad_replay_line_is_refused_by_the_replay_command_too(tmp_path: Path) -> None:
    replay = with_bad_line(tmp_path, detection(confidence="high"))
    result = run_cli("replay", str(site(tmp_path, replay)), "--detections", str(replay),
                     "--size", "640x360", "--fps", "10")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {replay}:31: detections[1].confidence: input should be a valid number, "
        f"unable to parse string as a number, got 'high'"
    )


def test_empty_replay_file_is_a_run_without_detections(tmp_path: Path) -> None:
    make_video(tmp_path / "clip.mp4", frames=10)
    replay = tmp_path / "dets.jsonl"
    replay.write_bytes(b"")
    result = run_cli("run", str(site(tmp_path, replay)))
    assert result.returncode == 0, result.stderr
    assert read_jsonl(tmp_path / "events.jsonl") == []


def test_extra_keys_and_a_missing_confidence_are_accepted(tmp_path: Path) -> None:
    """What other recorders add (a track id, a timestamp) is ignored; confidence defaults to 1."""
    make_video(tmp_path / "clip.mp4", frames=10)
    rows = walker(range(10), x_start=100, x_step=2)
    replay = tmp_path / "dets.jsonl"
    replay.write_text("\n".join(
        json.dumps({"frame": f, "ts": f / 10, "detections": [
            {**{k: v for k, v in det.items() if k != "confidence"}, "track_id": 7} for det in dets]})
        for f, dets in rows.items()) + "\n", encoding="utf-8")
    result = run_cli("run", str(site(tmp_path, replay)))
    assert result.returncode == 0, result.stderr
    (event,) = read_jsonl(tmp_path / "events.jsonl")
    assert event["images"][0]["objectDetections"][0]["confidence"] == 1.0
