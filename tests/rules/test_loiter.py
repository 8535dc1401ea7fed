"""Loiter rule: dwell in frame time; gaps up to gap_s keep the visit; one event per visit."""

from __future__ import annotations

import numpy as np
import pytest
from support.rule_frames import foot, frame, play, timeline

from streamer.config.models import LoiterRuleConfig
from streamer.rules import rules_state
from streamer.rules.loiter import LoiterRule

ZONE = np.array([[100, 100], [300, 100], [300, 300], [100, 300]], dtype=float)
IN, OUT, GONE = "in", "out", "gone"


def rule(**overrides: object) -> LoiterRule:
    settings: dict[str, object] = dict(id="linger", type="loiter", zone="z", dwell_s=1.0,
                                       gap_s=0.3, cooldown_s=0)
    settings.update(overrides)
    return LoiterRule(LoiterRuleConfig(**settings), ZONE, forget_after_s=3.0)


def path(*steps: str) -> list[object]:
    where = {IN: (200.0, 200.0), OUT: (50.0, 200.0)}
    return [frame() if s == GONE else frame(foot(1, *where[s])) for s in steps]


@pytest.mark.parametrize(
    ("name", "steps", "expected"),
    [
        ("dwell reached at exactly dwell_s", [IN] * 15, [(1.0, 1)]),
        ("lost for 2 frames (0.3 s) keeps the clock", [IN] * 5 + [GONE] * 2 + [IN] * 6, [(1.0, 1)]),
        ("lost for 3 frames (0.4 s) restarts", [IN] * 5 + [GONE] * 3 + [IN] * 11, [(1.8, 1)]),
        ("jitter out for 2 frames keeps the clock", [IN] * 4 + [OUT] * 2 + [IN] * 6, [(1.0, 1)]),
        ("a gap longer than gap_s restarts", [IN] * 8 + [OUT] * 5 + [IN] * 11, [(2.3, 1)]),
        ("too short a visit", [IN] * 9 + [OUT] * 9, []),
    ],
)
def test_loiter_table(name: str, steps: list[str], expected: list[tuple[float, int]]) -> None:
    assert timeline(play(rule(), path(*steps))) == expected, name


def test_one_event_per_visit_then_a_new_visit_fires_again() -> None:
    steps = [IN] * 25 + [OUT] * 5 + [IN] * 12
    assert timeline(play(rule(), path(*steps))) == [(1.0, 1), (4.0, 1)]
    assert timeline(play(rule(cooldown_s=60), path(*steps))) == [(1.0, 1)]


def test_state_shows_running_timers() -> None:
    r = rule()
    play(r, path(IN, IN, IN, IN, IN, IN))
    assert r.state()["dwell_s"] == {"1": 0.5}
    (event,) = play(rule(), path(*[IN] * 11))
    assert event.reason == "person #1 in z for 1.0 s" and event.extra["dwell_s"] == "1.0"


def test_the_page_line_says_the_longest_stay() -> None:
    r = rule()
    assert rules_state([r], 0.0)["rules"]["linger"]["headline"] == "nobody lingering"  # type: ignore[index]
    play(r, path(IN, IN, IN, IN, IN, IN))
    assert rules_state([r], 0.5)["rules"]["linger"]["headline"] == "longest stay 1 s"  # type: ignore[index]


def test_a_slow_pipeline_keeps_the_clock_between_frames_further_apart_than_gap_s() -> None:
    # One frame a second against gap_s 0.3: every frame is 1 s after the last, yet the
    # person was in each one. Missing from one, the visit ends.
    assert timeline(play(rule(dwell_s=3.0), path(*[IN] * 5), fps=1.0)) == [(3.0, 1)]
    assert play(rule(dwell_s=3.0), path(IN, IN, GONE, IN, IN, IN), fps=1.0) == []
