"""Same detections twice give the same events: every field, every rule type."""

from __future__ import annotations

from pathlib import Path

from support import box, walker, write_replay

from streamer.config.models import Config
from streamer.replay import run_replay


def config() -> Config:
    return Config.model_validate({
        "camera": {"source": "clip.mp4"},
        "models": [{"id": "m", "kind": "replay", "path": "x.jsonl"}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
        "lines": [{"id": "gate", "start": [0.4, 0], "end": [0.4, 1]}],
        "rules": [
            {"id": "enter", "type": "zone", "zone": "lane", "cooldown_s": 0},
            {"id": "crowd", "type": "count", "threshold": 3, "for_s": 0.5},
            {"id": "cross", "type": "line", "line": "gate", "cooldown_s": 0},
            {"id": "linger", "type": "loiter", "zone": "lane", "dwell_s": 0.5, "cooldown_s": 0},
            {"id": "ppe", "type": "missing_ppe", "required": ["helmet"], "for_s": 0.5},
        ],
    })


def test_same_input_twice_gives_the_same_events(tmp_path: Path) -> None:
    rows = walker(range(0, 40), x_start=100, x_step=12)
    for frame, other in walker(range(5, 40), x_start=500, x_step=-8).items():
        rows.setdefault(frame, []).extend(other)
    for frame in range(0, 40):
        rows.setdefault(frame, []).extend([box("person", 420, 100, 470, 280), box("helmet", 430, 92, 460, 120)])
    path = write_replay(tmp_path / "dets.jsonl", rows)

    def events() -> list[tuple[object, ...]]:
        return [
            (e.frame, e.wall_ts, e.event.rule_id, e.event.t_s, e.event.track_id, e.event.reason,
             e.event.describe(), e.event.detections.xyxy.tolist())
            for e in run_replay(config(), path, 640, 360, 10.0, 1_767_600_000.0).events
        ]

    first, second = events(), events()
    assert first == second
    assert {e[2] for e in first} == {"enter", "crowd", "cross", "linger", "ppe"}
