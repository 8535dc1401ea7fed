"""Shared by the review tests (issue 16): a two-rule scene with alerts every second and
the monitor's writes as the page sends them (the runtime in a thread is support's `run_in_process`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from support import box, make_video, read_jsonl, run_in_process, write_config, write_replay

TOKEN = "review-token-0123456789"
API_KEY = "review-test-key"

# x of the boxes in each zone, in turn: a new place every second, so a new track (and a
# new "entered" alert) each time.
_LEFT_X = (40, 140, 240)
_RIGHT_X = (360, 460, 560)


def people_every_second(frames: int) -> dict[int, list[dict[str, Any]]]:
    """One person appears in each half for 0.5 s of every second (10 fps)."""
    rows: dict[int, list[dict[str, Any]]] = {}
    for frame in range(frames):
        cycle, phase = divmod(frame, 10)
        if phase < 5:
            left, right = _LEFT_X[cycle % 3], _RIGHT_X[cycle % 3]
            rows[frame] = [box("person", left, 100, left + 50, 210), box("person", right, 100, right + 50, 210)]
        else:
            rows[frame] = []
    return rows


def two_rule_config(
    tmp_path: Path,
    frames: int,
    sinks: list[dict[str, Any]],
    token: str | None = TOKEN,
    realtime: bool = True,
    schedule: dict[str, Any] | None = None,
) -> Path:
    """Rules ``left-in`` and ``right-in``, each firing about once a second."""
    video = tmp_path / "clip.mp4"
    if not video.exists():
        make_video(video, frames=frames)
    replay = write_replay(tmp_path / "dets.jsonl", people_every_second(frames))
    rule = {"type": "zone", "min_frames": 2, "cooldown_s": 0}
    monitor: dict[str, Any] = {"bind": "127.0.0.1:0"}
    if token:
        monitor["token"] = token
    return write_config(tmp_path / "site.yaml", {
        "device_id": "edge-box-07",
        "camera": {"id": "dock-3", "source": str(video), "realtime": realtime},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                  {"id": "right", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
        "rules": [{**rule, "id": "left-in", "zone": "left", **({"schedule": schedule} if schedule else {})},
                  {**rule, "id": "right-in", "zone": "right"}],
        "sinks": sinks,
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": monitor,
    })


def post(url: str, path: str, body: dict[str, Any], token: str | None = TOKEN,
         origin: str | None = "own") -> httpx.Response:
    """A write as the page sends it: JSON, the page's own Origin, the token."""
    headers = {"Content-Type": "application/json"}
    if origin == "own":
        headers["Origin"] = url
    elif origin is not None:
        headers["Origin"] = origin
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url + path, json=body, headers=headers, timeout=10)


def get(url: str, path: str, token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url + path, headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()


def first_run(tmp_path: Path, frames: int = 60) -> tuple[Path, list[dict[str, object]]]:
    """A run over ``frames`` frames of video at 10 fps, read frame by frame: two alerts a
    second, then it ends."""
    sinks = [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}]
    config = two_rule_config(tmp_path, frames, sinks, realtime=False)
    run_in_process(config, drain_s=2)
    events = read_jsonl(tmp_path / "events.jsonl")
    assert len(events) >= 8
    return config, events
