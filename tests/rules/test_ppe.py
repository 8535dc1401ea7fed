"""Missing-PPE rule: items matched to people by region, one item to one person."""

from __future__ import annotations

import numpy as np
from support.rule_frames import box, frame, play, timeline

from streamer.config.models import MissingPpeRuleConfig, TrackerConfig
from streamer.detect.base import make_detections
from streamer.rules.ppe import MissingPpeRule, missing_item_of
from streamer.track import Tracker

SIZE = (640, 360)


def rule(**overrides: object) -> MissingPpeRule:
    settings: dict[str, object] = dict(id="no-helmet", type="missing_ppe", person_class="person",
                                       required=["helmet"], for_s=0.5, cooldown_s=0)
    settings.update(overrides)
    return MissingPpeRule(MissingPpeRuleConfig(**settings), None, SIZE, forget_after_s=3.0)


def person(track_id: int, x1: float, y1: float = 100, w: float = 60, h: float = 180) -> tuple:
    return box(track_id, x1, y1, x1 + w, y1 + h)


def helmet_on(x1: float, y1: float = 100, w: float = 60, cls: str = "helmet") -> tuple:
    """A helmet on the head of the person box starting at (x1, y1)."""
    cx = x1 + w / 2
    return box(-1, cx - 15, y1 - 5, cx + 15, y1 + 25, cls, 0.6)


def test_two_people_only_the_one_without_a_helmet_fires() -> None:
    frames = [frame(person(1, 100), helmet_on(100), person(2, 300))] * 8
    events = play(rule(), frames)
    assert timeline(events) == [(0.5, 2)]
    (event,) = events
    assert event.reason == "person #2 without helmet" and event.extra["missing"] == "helmet"
    assert event.describe() == "person #2 without helmet"


def test_a_helmet_held_in_the_hand_is_not_worn() -> None:
    in_hand = box(-1, 145, 185, 175, 215, "helmet", 0.8)  # at waist height, inside the box
    frames = [frame(person(1, 100), in_hand)] * 6
    assert timeline(play(rule(), frames)) == [(0.5, 1)]


def test_one_helmet_cannot_serve_two_overlapping_people() -> None:
    # Boxes overlap in x 140..160; the helmet's centre (135) is nearer person 1's head.
    frames = [frame(person(1, 100), person(2, 140), box(-1, 120, 95, 150, 125, "helmet"))] * 6
    assert timeline(play(rule(), frames)) == [(0.5, 2)]


def test_missing_must_be_continuous_for_for_s() -> None:
    # The helmet is seen every third frame: each sighting restarts the clock.
    frames = [frame(person(1, 100), *([helmet_on(100)] if i % 3 == 0 else [])) for i in range(12)]
    assert play(rule(), frames) == []
    frames = [frame(person(1, 100))] * 6 + [frame(person(1, 100), helmet_on(100))] * 3 + [frame(person(1, 100))] * 6
    # One event per episode: fires at 0.5, the helmet comes back, the next episode at 1.4.
    assert timeline(play(rule(), frames)) == [(0.5, 1), (1.4, 1)]


def test_indeterminate_people_are_counted_never_alerted() -> None:
    small = box(1, 100, 100, 120, 140)  # 40 px tall
    cut = box(2, 0, 100, 60, 280)  # touches the left edge
    cut_bottom = box(3, 400, 200, 460, 360)
    r = rule()
    assert play(r, [frame(small, cut, cut_bottom)] * 10) == []
    assert r.state()["indeterminate"] == 3 and r.state()["persons"] == 3


def test_several_items_and_regions() -> None:
    vest = box(-1, 110, 160, 150, 220, "vest", 0.7)  # torso
    r = rule(required=["helmet", "vest"])
    events = play(r, [frame(person(1, 100), vest)] * 6)
    assert [e.extra["missing"] for e in events] == ["helmet"]
    events = play(rule(required=["helmet", "vest"]), [frame(person(1, 100))] * 6)
    assert [e.extra["missing"] for e in events] == ["helmet, vest"]


def test_violation_classes_say_it_directly() -> None:
    assert missing_item_of("no_helmet") == "helmet" and missing_item_of("NO-Hardhat") == "Hardhat"
    r = rule(required=[], violation_classes=["no_helmet"])
    frames = [frame(person(1, 100), helmet_on(100, cls="no_helmet"), person(2, 300))] * 6
    events = play(r, frames)
    assert timeline(events) == [(0.5, 1)] and events[0].extra["missing"] == "helmet"
    # The event carries the person and the box that showed the violation.
    assert sorted(events[0].detections.data["class_name"].tolist()) == ["no_helmet", "person"]


def test_items_bypass_the_tracker() -> None:
    """Through the real ByteTrack: a low-score helmet never becomes a track (id -1) and
    still protects its wearer; the bare-headed person is the only alert."""
    tracker = Tracker(TrackerConfig(), fps=10)
    r = rule()
    events = []
    for index in range(12):
        raw = make_detections(
            np.array([[100, 100, 160, 280], [115, 95, 145, 125], [300, 100, 360, 280]], dtype=np.float32),
            [0.9, 0.2, 0.9], ["person", "helmet", "person"], "m",
        )
        tracked = tracker.update(index / 10, raw)
        assert "helmet" in tracked.data["class_name"].tolist()
        events += r.update(index / 10, tracked)
    assert len(events) == 1
    (x1, _, _, _), = events[0].detections.xyxy[:1]
    assert x1 == 300  # the person without the helmet
