"""Line rule: crossings need min_frames on each side; direction as docs/architecture.md defines it."""

from __future__ import annotations

import numpy as np
import pytest
from support.rule_frames import foot, frame, play, timeline

from streamer.config.models import LineRuleConfig
from streamer.rules.line import LineRule

# A vertical line drawn top to bottom at x=200, from y=100 to y=300.
GATE = np.array([[200, 100], [200, 300]], dtype=float)


def rule(segment: np.ndarray = GATE, **overrides: object) -> LineRule:
    settings: dict[str, object] = dict(id="gate-count", type="line", line="gate", min_frames=2,
                                       cooldown_s=0)
    settings.update(overrides)
    return LineRule(LineRuleConfig(**settings), segment, forget_after_s=3.0)


# A near person, 240 px tall: the tables' 100 px steps at 10 fps are then a run (4 box
# heights a second), not a jump no person could make, which the rule takes for an id
# switch. The band is a tenth of the height: 24 px, so L and R (50 px off) are past it.
H = 240.0


def walk(xs: list[float | None], y: float = 200, track_id: int = 1) -> list[object]:
    return [frame(foot(track_id, x, y, h=H)) if x is not None else frame() for x in xs]


L, R, ON = 150.0, 250.0, 200.0


@pytest.mark.parametrize(
    ("name", "xs", "expected"),
    [
        ("clean crossing", [L, L, L, R, R, R], [(0.4, 1)]),
        ("one frame across is flicker", [L, L, R, L, L, R, L, L], []),
        # A frame on the line (inside the band) breaks the streak: two R in a row at 1.0.
        ("jitter on the line counts once", [L, L, ON, L, ON, R, ON, R, L, R, R], [(1.0, 1)]),
        ("lost for frames mid-crossing", [L, L, None, None, R, R], [(0.5, 1)]),
        ("first seen on one side is no crossing", [R, R, R, R], []),
    ],
)
def test_crossing_table(name: str, xs: list[float], expected: list[tuple[float, int]]) -> None:
    assert timeline(play(rule(), walk(xs))) == expected, name


def test_direction_follows_design_md() -> None:
    # Vertical line drawn top to bottom: left_to_right means x grows.
    assert len(play(rule(direction="left_to_right"), walk([L, L, R, R]))) == 1
    assert play(rule(direction="right_to_left"), walk([L, L, R, R])) == []
    assert len(play(rule(direction="right_to_left"), walk([R, R, L, L]))) == 1
    # The same line drawn bottom to top: the picture turned round, so x shrinking is
    # left_to_right seen from its start.
    flipped = GATE[::-1].copy()
    assert len(play(rule(flipped, direction="left_to_right"), walk([R, R, L, L]))) == 1
    # A horizontal line drawn left to right: turned to point down, its left is the
    # picture's bottom, so moving up (y shrinking) is left_to_right.
    horizontal = np.array([[100, 200], [300, 200]], dtype=float)
    up = [frame(foot(1, 200, y, h=H)) for y in (250, 250, 150, 150)]
    assert len(play(rule(horizontal, direction="left_to_right"), up)) == 1
    assert play(rule(horizontal, direction="right_to_left"), up) == []


def test_running_counts_in_and_out() -> None:
    r = rule(direction="left_to_right")
    events = play(r, walk([L, L, R, R, L, L, R, R]))
    assert [e.extra["direction"] for e in events] == ["left_to_right", "left_to_right"]
    assert r.state()["in"] == 2 and r.state()["out"] == 1


def test_walking_round_the_end_is_no_crossing() -> None:
    # Below the segment's end (y=300), the side is unknown: no crossing is counted.
    path = [frame(foot(1, x, y, h=H)) for x, y in [(L, 250), (L, 250), (L, 350), (R, 350), (R, 250), (R, 250)]]
    assert play(rule(), path) == []


def test_track_cooldown_and_unconfirmed_tracks() -> None:
    back_and_forth = walk([L, L, R, R, L, L, R, R])
    assert len(play(rule(cooldown_s=60), back_and_forth)) == 1
    assert len(play(rule(cooldown_s=60, cooldown_scope="zone"), walk([L, L, R, R]) + walk([L, L, R, R], track_id=2))) == 1
    unconfirmed = walk([L, L, R, R], track_id=-1)
    assert play(rule(), unconfirmed) == []


def test_event_fields() -> None:
    (event,) = play(rule(), walk([L, L, R, R]))
    assert event.reason == "person #1 crossed gate left_to_right"
    assert event.zone_id == "gate" and len(event.detections) == 1


@pytest.mark.parametrize("fps", [10.0, 2.0, 1.0])
def test_a_slow_pipeline_still_counts_crossings(fps: float) -> None:
    # A pipeline that manages 1 or 2 frames a second (a big model on a small CPU) sees each
    # track 0.5-1 s apart: longer than the 0.4 s after which an unseen track's side is
    # forgotten, but the track was in the previous frame, so it was never unseen.
    xs = [100 + 60 * i / fps for i in range(int(5 * fps) + 1)]  # 60 px/s, x 100 -> 400
    events = play(rule(), walk(xs), fps=fps)
    assert [(e.track_id, e.extra["direction"]) for e in events] == [(1, "left_to_right")]


def test_at_five_frames_a_second_a_missed_frame_costs_no_crossing() -> None:
    # 0.4 s between the sightings around the missed frame: as long as the 0.4 s after
    # which a side is forgotten, but only two frame intervals (continuity.lost).
    xs: list[float | None] = [100 + 12.0 * i for i in range(16)]  # 60 px/s at 5 fps
    xs[8] = None
    events = play(rule(), walk(xs), fps=5.0)
    assert [(e.track_id, e.extra["direction"]) for e in events] == [(1, "left_to_right")]
