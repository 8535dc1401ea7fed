"""`streamer replay`: recorded detections in, a table of events out, same on every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import box, make_video, read_jsonl, run_cli, walker, write_config, write_replay

pytestmark = pytest.mark.integration


def scene(tmp_path: Path, rules: list[dict[str, Any]], sinks: list[dict[str, Any]] | None = None,
          source: str = "rtsp://cam.invalid/stream") -> Path:
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock", "source": source},
        "models": [{"id": "m", "kind": "replay", "path": str(tmp_path / "unused.jsonl")}],
        "zones": [{"id": "lane", "polygon": [[320, 0], [640, 0], [640, 360], [320, 360]]}],
        "lines": [{"id": "gate", "start": [0.5, 0.0], "end": [0.5, 1.0]}],
        "rules": rules,
        "sinks": sinks or [],
        "outbox": {"path": str(tmp_path / "outbox.db")},
    })


RULES = [
    {"id": "gate-count", "type": "line", "line": "gate", "direction": "left_to_right",
     "min_frames": 2, "cooldown_s": 0},
    {"id": "lane", "type": "zone", "zone": "lane", "min_frames": 3, "cooldown_s": 30},
    {"id": "crowd", "type": "count", "threshold": 2, "for_s": 1.0, "classes": ["person"]},
    {"id": "no-helmet", "type": "missing_ppe", "required": ["helmet"], "for_s": 1.0},
]


def detections(tmp_path: Path) -> Path:
    # Person A walks right across the gate (x=320) at 20 px per frame from x=200.
    rows = walker(range(0, 30), x_start=200, x_step=20, y1=150, height=110)
    # Person B stands still on the left with a helmet on.
    for frame in range(0, 30):
        rows.setdefault(frame, []).extend([box("person", 60, 120, 100, 300),
                                           box("helmet", 68, 112, 92, 140, 0.5)])
    return write_replay(tmp_path / "dets.jsonl", rows)


def test_replay_prints_every_event_and_is_deterministic(tmp_path: Path) -> None:
    config, dets = scene(tmp_path, RULES), detections(tmp_path)
    args = ["replay", str(config), "--detections", str(dets), "--size", "640x360", "--fps", "10",
            "--start-time", "2026-01-05T08:00:00Z"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].split() == ["time_s", "rule", "object", "reason"]
    rows = [line.split(None, 3) for line in lines[1:]]
    # The walker's feet are at x = 220 + 20 * frame: left of the gate (x=320) up to
    # frame 4, on it at 5 (no side), right from 6; two frames right settle the crossing
    # at frame 7. The same point is on the lane's edge at 5, inside its band (11 px, a
    # tenth of the box's height), so min_frames=3 counts frames 6-8 and enters at 8. Two people for 1 s from frame 0: crowd at 1.0. The walker is tracked
    # from frame 1 (ByteTrack confirms on the 2nd frame) and has no helmet: 1.1.
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("0.70", "gate-count", "person"),
        ("0.80", "lane", "person"),
        ("1.00", "crowd", "2"),
        ("1.10", "no-helmet", "person"),
    ], first.stdout
    assert "person #0 crossed gate left_to_right" in lines[1]
    assert "2 person in frame (>= 2 for 1 s)" in lines[3]
    assert "4 event(s) at 640x360, 10 fps" in first.stderr
    second = run_cli(*args)
    assert second.stdout == first.stdout


def test_replay_takes_size_and_fps_from_the_video(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=5, fps=5.0)
    config, dets = scene(tmp_path, RULES[:1], source=str(video)), detections(tmp_path)
    result = run_cli("replay", str(config), "--detections", str(dets))
    assert result.returncode == 0, result.stderr
    # At 5 fps the same crossing (frame 7) happens at 1.4 s.
    assert result.stdout.splitlines()[1].startswith("1.40 ")


def test_replay_without_a_frame_size_says_so(tmp_path: Path) -> None:
    result = run_cli("replay", str(scene(tmp_path, RULES)), "--detections", str(detections(tmp_path)))
    assert result.returncode != 0
    assert "error: replay needs the frame size: pass --size WxH or --video FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_send_hands_events_to_the_sinks(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    config = scene(tmp_path, RULES[:2], sinks=[{"type": "jsonl", "path": str(out)}])
    video = make_video(tmp_path / "clip.mp4", frames=30, fps=10.0)
    result = run_cli("replay", str(config), "--detections", str(detections(tmp_path)),
                     "--video", str(video), "--send")
    assert result.returncode == 0, result.stderr
    assert "delivered: jsonl: 2" in result.stderr
    payloads = read_jsonl(out)
    assert [p["customMetadata"]["rule_id"] for p in payloads] == ["gate-count", "lane"]
    assert payloads[0]["images"][0]["objectDetections"][0]["class"] == "person"


def test_replay_loiter_scenario_from_jsonl(tmp_path: Path) -> None:
    """Loitering from a replay file through the real tracker: a gap shorter than gap_s keeps
    the clock running, one event per visit."""
    rules = [{"id": "linger", "type": "loiter", "zone": "lane", "dwell_s": 2.0, "gap_s": 1.0,
              "classes": ["person"]}]
    rows: dict[int, list[dict[str, Any]]] = {}
    for frame in list(range(0, 10)) + list(range(15, 50)):  # missing 0.5 s at frames 10-14
        rows[frame] = [box("person", 400, 150, 440, 260)]
    dets = write_replay(tmp_path / "dets.jsonl", rows)
    result = run_cli("replay", str(scene(tmp_path, rules)), "--detections", str(dets),
                     "--size", "640x360", "--fps", "10")
    assert result.returncode == 0, result.stderr
    rows_out = [line.split(None, 3) for line in result.stdout.splitlines()[1:]]
    # Tracked from frame 1 (ByteTrack confirms on the 2nd frame, t = 0.1 s); the 0.5 s gap
    # does not reset the clock, so 2 s of dwell is reached at 2.1 s, once.
    assert [(r[0], r[1], r[2]) for r in rows_out] == [("2.10", "linger", "person")], result.stdout
