"""Count rule: condition held for for_s, fires once, re-arms after clear_s."""

from __future__ import annotations

import numpy as np
import pytest
from support.rule_frames import foot, frame, play

from streamer.config.models import CountRuleConfig, EventSpec
from streamer.events.payload import event_data
from streamer.rules.count import CountRule

ZONE = np.array([[100, 100], [300, 100], [300, 300], [100, 300]], dtype=float)
IN = [(1, 150, 200), (2, 200, 200), (3, 250, 200)]


def rule(zone: bool = True, **overrides: object) -> CountRule:
    settings: dict[str, object] = dict(
        id="crowd", type="count", zone="dock" if zone else None, op=">=", threshold=3,
        for_s=0.5, cooldown_s=0, classes=["person"],
    )
    settings.update(overrides)
    return CountRule(CountRuleConfig(**settings), ZONE if zone else None, forget_after_s=3.0)


def people(n: int, outside: int = 0) -> object:
    """The first ``n`` of the three people in the dock, the others seen outside it (they
    walked out), and ``outside`` more people outside."""
    boxes = [foot(*p) for p in IN[:n]] + [foot(i, 40 + 20 * i, 50) for i, _, _ in IN[n:]]
    return frame(*boxes, *(foot(10 + i, 50, 50 + 10 * i) for i in range(outside)))


def seen(n: int) -> object:
    """The first ``n`` people in the dock and no one else: the others the detector missed."""
    return frame(*(foot(*p) for p in IN[:n]))


def test_fires_once_when_held_for_for_s() -> None:
    # docs/architecture.md: for_s starts at the first frame the condition holds (t=0.2) and the
    # rule fires on the first frame where t - start >= for_s (t=0.7).
    frames = [people(2), people(2)] + [people(3)] * 12
    events = play(rule(), frames)
    assert [round(e.t_s, 3) for e in events] == [0.7]
    (event,) = events
    assert event.count == 3 and len(event.detections) == 3 and event.zone_id == "dock"
    assert event.spec.type == "inventory_count"
    assert event_data(event) == {"location": "dock", "itemCount": 3, "itemType": "person"}


def test_condition_broken_before_for_s_does_not_fire() -> None:
    frames = [people(3)] * 4 + [people(2)] + [people(3)] * 4
    assert play(rule(), frames) == []


def test_rearms_only_after_clear_s_false() -> None:
    # fires at 0.5; false 0.6-0.9 (0.3 s < clear_s 1 s): no re-arm; false 1.5-2.5 re-arms.
    frames = [people(3)] * 6 + [people(1)] * 4 + [people(3)] * 5 + [people(1)] * 11 + [people(3)] * 6
    events = play(rule(for_s=0.5, clear_s=1.0), frames)
    assert [round(e.t_s, 3) for e in events] == [0.5, 3.1]


def test_rule_cooldown_suppresses_a_rearmed_firing() -> None:
    frames = [people(3)] * 6 + [people(1)] * 11 + [people(3)] * 6
    assert [round(e.t_s, 3) for e in play(rule(cooldown_s=60), frames)] == [0.5]


def test_a_person_the_detector_misses_for_a_few_frames_still_counts() -> None:
    # A detector misses one frame in eight: a tracked person unseen for up to 0.4 s
    # (continuity.MAX_GAP_S) is still in the count, so the condition holds through it.
    frames = [people(3)] * 3 + [seen(2)] * 3 + [people(3)] * 4
    assert [round(e.t_s, 3) for e in play(rule(), frames)] == [0.5]
    # Unseen for longer, they are gone: the condition breaks at 0.5 and restarts at 0.7.
    frames = [people(3)] + [seen(2)] * 6 + [people(3)] * 6
    assert [round(e.t_s, 3) for e in play(rule(), frames)] == [1.2]
    # Seen outside the dock, they left at once, tracked or not.
    frames = [people(3)] * 3 + [people(2)] + [people(3)] * 4
    assert play(rule(), frames) == []


def test_an_untracked_detection_counts_only_while_seen() -> None:
    dets = seen(3)
    dets.tracker_id[:] = -1
    frames = [dets] * 3 + [seen(2)] + [dets] * 4
    assert play(rule(), frames) == []


def test_whole_frame_counts_untracked_objects_too() -> None:
    dets = people(1)
    dets.tracker_id[:] = -1
    events = play(rule(zone=False, for_s=0), [dets])
    assert [e.count for e in events] == [3]
    assert events[0].reason == "3 person in frame (>= 3 for 0 s)"


@pytest.mark.parametrize(
    ("op", "threshold", "n", "fires"),
    [(">", 2, 3, True), (">", 3, 3, False), ("<=", 1, 1, True), ("<", 1, 0, True),
     ("==", 2, 2, True), ("==", 2, 3, False)],
)
def test_operators(op: str, threshold: int, n: int, fires: bool) -> None:
    events = play(rule(op=op, threshold=threshold, for_s=0), [people(n)])
    assert bool(events) is fires


def test_description_template_and_state() -> None:
    r = rule(for_s=0, event=EventSpec(type="safety_alert", description="{count} in {zone}"))
    (event,) = play(r, [people(3)])
    assert event.describe() == "3 in dock"
    state = r.state()
    assert state["count"] == 3 and state["armed"] is False and state["type"] == "count"


def test_a_person_standing_on_the_zone_edge_does_not_flicker_the_count() -> None:
    # The third person walks to the dock's right edge (x=300) and stands there, their
    # anchor 2 px in, then 2 px out: inside the band (0.08 x 60 px), so they stay counted
    # on the side they came from and the condition holds. Without a band it breaks every
    # other frame.
    def at(x: float) -> object:
        return frame(foot(1, 150, 200), foot(2, 200, 200), foot(3, x, 200))

    frames = [at(250), at(280)] + [at(298), at(302)] * 5
    assert [round(e.t_s, 3) for e in play(rule(), frames)] == [0.5]
    assert play(rule(band_px=0), frames) == []
    # Past the band outside, they left: the count is 2 at once.
    r = rule()
    play(r, frames + [at(310)])
    assert r.count == 2


def test_a_slow_pipeline_holds_a_person_missed_in_a_frame_or_two() -> None:
    # At 2 frames a second one missed frame is 0.5 s unseen, past the 0.4 s hold, but
    # not two frame intervals (continuity.lost): still counted, and in the next missed
    # frame too. Missing from three, gone.
    frames = [people(3)] * 2 + [seen(2)] * 2 + [people(3)] * 2
    assert [round(e.t_s, 3) for e in play(rule(for_s=2.5), frames, fps=2.0)] == [2.5]
    frames = [people(3)] * 2 + [seen(2)] * 3 + [people(3)] * 2
    assert play(rule(for_s=2.5), frames, fps=2.0) == []
