"""The record of what the rules saw (issue 26): bounded by frame time and by count, and a
replay of it through fresh rules fires exactly what those rules fire live."""

from __future__ import annotations

import numpy as np
from support.rule_frames import foot, frame

from streamer.config.models import ZoneRuleConfig
from streamer.rules.history import RuleHistory, fired_by, replay
from streamer.rules.zone import ZoneRule

RIGHT = np.array([[320, 0], [640, 0], [640, 360], [320, 360]], dtype=float)
LEFT = np.array([[0, 0], [320, 0], [320, 360], [0, 360]], dtype=float)


def zone_rule(polygon: np.ndarray) -> ZoneRule:
    config = ZoneRuleConfig(id="lane-in", type="zone", zone="lane", min_frames=2, cooldown_s=0)
    return ZoneRule(config, polygon, forget_after_s=3.0)


def walk(frames: int) -> list:
    """Track 1 walks from the right half into the left one; track 2 stays right."""
    return [frame(foot(1, 600 - 20 * i, 300), foot(2, 500, 300)) for i in range(frames)]


def test_the_record_keeps_the_last_seconds_and_at_most_max_frames() -> None:
    history = RuleHistory(keep_s=2.0, max_frames=1000)
    for index in range(50):  # half seconds: exact in binary
        history.add(index / 2, 1e9 + index / 2, frame(), [])
    assert [seen.t_s for seen in history.frames()] == [22.5, 23.0, 23.5, 24.0, 24.5]
    short = RuleHistory(keep_s=60.0, max_frames=5)
    for index in range(50):
        short.add(index / 10, None, frame(), [])
    assert [round(seen.t_s, 1) for seen in short.frames()] == [4.5, 4.6, 4.7, 4.8, 4.9]


def test_time_going_back_starts_a_new_record() -> None:
    history = RuleHistory()
    for t_s in (10.0, 10.1, 10.2, 0.0, 0.1):
        history.add(t_s, None, frame(), [])
    assert [seen.t_s for seen in history.frames()] == [0.0, 0.1]


def test_a_replay_through_fresh_rules_fires_what_they_fire_live() -> None:
    live, history = zone_rule(RIGHT), RuleHistory()
    moved_live = zone_rule(LEFT)  # what the changed rule would have done, run live beside it
    expected = []
    for index, dets in enumerate(walk(30)):
        t_s, wall = index / 10, 1_700_000_000.0 + index / 10
        fired = live.update(t_s, dets, wall)
        expected += [(e.rule_id, round(e.t_s, 3), e.track_id) for e in moved_live.update(t_s, dets, wall)]
        history.add(t_s, wall, dets, fired)
    frames = history.frames()
    would = replay([zone_rule(LEFT)], frames)
    assert [(f.rule_id, round(f.t_s, 3), f.track_id) for f in would] == expected
    assert [(f.t_s, f.track_id) for f in would] == [(1.6, 1)]  # track 1's foot passes x = 320
    assert would[0].wall_ts == 1_700_000_001.6 and would[0].description == "person #1 entered lane"
    actually = fired_by(frames, ["lane-in"])
    assert [(round(f.t_s, 3), f.track_id) for f in actually] == [(0.1, 1), (0.1, 2)]
    assert fired_by(frames, ["another-rule"]) == []
