"""``expect_within_h`` (issue 27): a rule whose place has seen none of its classes for that
many hours of live picture warns once per blind spell; the camera away does not count."""

from __future__ import annotations

import pytest
from support.rule_frames import foot, frame

from streamer.config.models import Config
from streamer.rules import build_rules

IN, OUT, CAR, NOTHING = "in", "out", "car", "nothing"
WHERE = {IN: (200.0, 200.0), OUT: (500.0, 200.0)}


def lane_rule(**rule: object) -> object:
    config = Config.model_validate({
        "camera": {"source": "x.mp4"},
        "models": [{"id": "m", "kind": "hog"}],
        "zones": [{"id": "lane", "polygon": [[100, 100], [300, 100], [300, 300], [100, 300]]}],
        "rules": [{"id": "lane-intrusion", "type": "zone", "zone": "lane", "classes": ["person"],
                   "expect_within_h": 1, **rule}],
    })
    [built] = build_rules(config, 640, 360)
    return built


def run(rule: object, timeline: list[tuple[float, str]]) -> list[float]:
    """Feed (t_s, what) frames; the times of blind-rule warnings."""
    warnings = []
    for t_s, what in timeline:
        dets = frame() if what == NOTHING else frame(foot(1, *WHERE.get(what, WHERE[IN]),
                                                          cls="car" if what == CAR else "person"))
        for event in rule.update(t_s, dets, None):  # type: ignore[attr-defined]
            if event.spec.alert_type == "rule_blind":
                warnings.append(t_s)
    return warnings


def every(start_s: float, end_s: float, what: str, step_s: float = 5.0) -> list[tuple[float, str]]:
    return [(start_s + k * step_s, what) for k in range(int((end_s - start_s) / step_s))]


@pytest.mark.parametrize(
    ("name", "timeline", "expected"),
    [
        ("an hour with nobody in the lane: one warning",
         every(0, 7300, NOTHING), [3600.0]),
        ("people outside the lane or cars inside do not count",
         every(0, 1800, OUT) + every(1800, 3700, CAR), [3600.0]),
        ("someone in the lane restarts the watch",
         every(0, 3000, NOTHING) + [(3000, IN)] + every(3005, 7000, NOTHING), [6600.0]),
        ("two blind spells, two warnings",
         every(0, 3700, NOTHING) + [(3700, IN)] + every(3705, 7400, NOTHING), [3600.0, 7300.0]),
        ("the camera away for hours is not watched time",
         every(0, 1800, NOTHING) + every(9000, 11000, NOTHING), [10805.0]),
    ],
)
def test_expect_within_h_table(name: str, timeline: list[tuple[float, str]], expected: list[float]) -> None:
    assert run(lane_rule(), timeline) == expected, name


def test_the_warning_names_the_rule_its_place_and_the_hours_and_the_state_shows_the_watch() -> None:
    rule = lane_rule(expect_within_h=0.5)
    events = []
    for t_s, _ in every(0, 1900, NOTHING):
        events += rule.update(t_s, frame(), None)  # type: ignore[attr-defined]
    [event] = events
    assert event.rule_id == "lane-intrusion" and event.zone_id == "lane"
    assert event.spec.severity == "medium" and event.spec.custom_metadata["expect_within_h"] == "0.5"
    assert "no person in lane for 0.5 h" in event.reason
    state = rule.state()  # type: ignore[attr-defined]
    assert state["type"] == "zone" and state["unseen_h"] >= 0.5 and state["expect_within_h"] == 0.5


def test_without_expect_within_h_a_rule_is_built_as_before() -> None:
    from streamer.rules.zone import ZoneRule

    assert type(lane_rule(expect_within_h=None)) is ZoneRule
