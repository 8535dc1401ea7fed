"""Clips through the whole runtime (issue 17): a rule with ``clip:`` on a real video gives
its event a clip in the outbox that covers the seconds asked for and shows that moment."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import box, read_jsonl, run_cli, run_in_process, write_config, write_replay
from support.clips import decode, video_frames

from streamer.assets import sample_video
from streamer.events.clips import StoredClip
from streamer.events.outbox import Outbox

# bikes.mp4 itself (its keyframes, its H.264 packets copied into the clip) is what these
# tests check, and a fresh machine fetches it with pip in a subprocess: not the fast tier.
pytestmark = pytest.mark.integration

FPS = 25.0  # bikes.mp4
APPEARS = 150  # a person is first seen, inside the zone, on this frame (6.0 s)
# The tracker confirms the track on its second frame; the zone rule (min_frames 3) fires
# on the third frame it sees it inside.
FIRES = APPEARS + 3
RIGHT_HALF = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]


def site(tmp_path: Path, clip: object, **clips: object) -> Path:
    rows = {f: [box("person", 420, 100, 470, 220)] for f in range(APPEARS, APPEARS + 60)}
    config = {
        "device_id": "edge-box-07",
        "camera": {"id": "dock-3", "source": str(sample_video())},
        "models": [{"id": "people", "kind": "replay", "path": str(write_replay(tmp_path / "dets.jsonl", rows))}],
        "zones": [{"id": "lane", "polygon": RIGHT_HALF}],
        "rules": [{"id": "lane-intrusion", "type": "zone", "zone": "lane", "classes": ["person"],
                   "min_frames": 3, "clip": clip}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")},
                  {"type": "bundle", "dir": str(tmp_path / "bundles")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
    }
    if clips:
        config["clips"] = clips
    return write_config(tmp_path / "site.yaml", config)


def stored_clip(folder: Path, event_id: str) -> StoredClip | None:
    outbox = Outbox(folder / "outbox.db")
    try:
        return outbox.clip(event_id)
    finally:
        outbox.close()


def test_an_event_of_a_rule_with_clip_has_its_clip_in_the_outbox(tmp_path: Path) -> None:
    summary = run_in_process(site(tmp_path, {"pre_s": 3, "post_s": 2}))
    assert summary.events_accepted == 1
    [event] = read_jsonl(tmp_path / "events.jsonl")
    stored = stored_clip(tmp_path, event["eventId"])
    assert stored is not None and stored.state == "ready" and stored.mp4, stored
    meta = stored.meta
    # The camera's own packets: from the keyframe at or before 3 s back (bikes.mp4 has
    # keyframes at 1.2, 3.04, 5.48 s; the event is at 6.08 s), to 2 s after.
    assert meta["copied"] is True and meta["codec"] == "h264", meta
    assert -3.0 - 2.44 <= meta["start_s"] <= -3.0 and meta["end_s"] >= 2.0 - 1 / FPS, meta
    pictures = decode(stored.mp4)
    assert len(pictures) == meta["frames"]
    direct = video_frames(sample_video())
    at_event = round(-meta["start_s"] * FPS)
    diffs = {i: np.abs(pictures[at_event].astype(int) - direct[i].astype(int)).mean() for i in range(FIRES - 2, FIRES + 3)}
    # That moment's picture, and not its neighbours' (the video moves).
    assert diffs[FIRES] < 1.0 and min(d for i, d in diffs.items() if i != FIRES) > 2.0, (meta, diffs)
    # The event's bundle (the air-gapped export) carries that same clip.
    [bundle] = (tmp_path / "bundles").glob("*.tar.gz")
    with tarfile.open(bundle) as archive:
        member = archive.extractfile(f"clips/{event['eventId']}.mp4")
        assert member is not None and member.read() == stored.mp4


def test_a_camera_wide_default_gives_clips_and_false_turns_it_off(tmp_path: Path) -> None:
    on = tmp_path / "on"
    off = tmp_path / "off"
    on.mkdir()
    off.mkdir()
    run_in_process(site(on, None, default={"pre_s": 1, "post_s": 1, "annotated": True}))
    run_in_process(site(off, False, default={"pre_s": 1, "post_s": 1}))
    for folder, expected in ((on, True), (off, False)):
        [event] = read_jsonl(folder / "events.jsonl")
        stored = stored_clip(folder, event["eventId"])
        assert (stored is not None) is expected, (folder.name, stored)
        if stored is not None:
            assert stored.meta["annotated"] is True and stored.meta["copied"] is False
            assert len(decode(stored.mp4 or b"")) == stored.meta["frames"] == 51


def test_a_bad_clip_setting_is_one_line_naming_the_key(tmp_path: Path) -> None:
    path = site(tmp_path, {"pre_s": 500})
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "rules[0].clip" in result.stderr and "pre_s" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert yaml.safe_load(path.read_text())["rules"][0]["clip"] == {"pre_s": 500}
