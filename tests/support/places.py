"""Shared by the places editor's tests (issue 26): a running camera whose people come and
go in both halves of the picture, and a hand-written config file full of comments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from support import box, make_video, wait_for, write_replay

TOKEN = "places-token-0123456789"
FPS = 10
FRAMES = 600  # a minute of 640x360 video at 10 fps, played in real time

# Feet (bottom centre) of the people in each half: x/640 of 0.10..0.41 left, 0.60..0.91
# right, y = 210/360 = 0.58. A new person (a new track) every second, for half a second.
_LEFT_X = (40, 140, 240)
_RIGHT_X = (360, 460, 560)
LEFT_AREA = [[0.02, 0.3], [0.48, 0.3], [0.48, 0.9], [0.02, 0.9]]
# Around the middle left spot only (x = 140..190): one person in three steps in.
MIDDLE_LEFT = [[0.2, 0.3], [0.32, 0.3], [0.32, 0.9], [0.2, 0.9]]

SITE = """\
# Dock 3, north camera. Keep this header: the places editor must not drop it.
device_id: edge-box-07   # Vision Events deviceId
camera:
  id: dock-3
  source: {video}
  realtime: true
models:
  - id: people
    kind: replay        # recorded detections stand in for the model
    path: {replay}
zones:
  # The lane forklifts use; people must stay out.
  - id: lane
    polygon: [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]   # right half for now
  # Loading dock, measured in pixels on the 640x360 picture.
  - id: dock
    polygon: [[400, 20], [600, 20], [600, 80], [400, 80]]
rules:
  - id: lane-intrusion
    type: zone
    zone: lane
    min_frames: 2
    cooldown_s: 0       # every entry fires: the test counts them
    event: {{type: safety_alert, alert_type: zone_intrusion, severity: high}}
sinks:
  - type: jsonl
    path: {events}
outbox: {{path: {outbox}}}
monitor: {{bind: "127.0.0.1:0", token: {token}}}
"""


def people(frames: int) -> dict[int, list[dict[str, Any]]]:
    rows: dict[int, list[dict[str, Any]]] = {}
    for frame in range(frames):
        cycle, phase = divmod(frame, FPS)
        if phase < 5:
            left, right = _LEFT_X[cycle % 3], _RIGHT_X[cycle % 3]
            rows[frame] = [box("person", left, 100, left + 50, 210), box("person", right, 100, right + 50, 210)]
    return rows


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames=FRAMES, fps=FPS)


def site(tmp_path: Path, clip: Path) -> Path:
    replay = write_replay(tmp_path / "dets.jsonl", people(FRAMES))
    path = tmp_path / "site.yaml"
    path.write_text(SITE.format(video=clip, replay=replay, events=tmp_path / "events.jsonl",
                                outbox=tmp_path / "outbox.db", token=TOKEN), encoding="utf-8")
    return path


def headers(url: str, token: str | None = TOKEN, origin: str | None = "own") -> dict[str, str]:
    out = {"Content-Type": "application/json"}
    if origin is not None:
        out["Origin"] = url if origin == "own" else origin
    if token is not None:
        out["Authorization"] = f"Bearer {token}"
    return out


def put(url: str, place: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.put(f"{url}/api/places/{place}", json=body, headers=headers(url, **kw), timeout=30)


def places(url: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        answer = httpx.get(f"{url}/api/places", headers=headers(url, origin=None), timeout=10)
        return answer.json() if answer.status_code == 200 else None

    return wait_for(ready, 15, "GET /api/places")


def comments(text: str) -> list[str]:
    return [line[line.index("#"):] for line in text.splitlines() if "#" in line]
