"""Zone rule: frame tables in, exact events out. No model, no I/O."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from streamer.config.models import EventSpec, ZoneRuleConfig
from streamer.detect.base import make_detections
from streamer.rules import rules_state
from streamer.rules.geometry import points_in_polygon, to_pixels
from streamer.rules.zone import ZoneRule

ZONE = np.array([[100, 100], [300, 100], [300, 300], [100, 300]], dtype=float)


def dets(*objects: tuple[int, float, float], cls: str = "person") -> sv.Detections:
    """Each object is (track_id, foot_x, foot_y): a 20x60 box standing on that point."""
    if not objects:
        out = make_detections(np.zeros((0, 4)), [], [], "m")
        out.tracker_id = np.zeros(0, dtype=int)
        return out
    xyxy = [[x - 10, y - 60, x + 10, y] for _, x, y in objects]
    out = make_detections(xyxy, [0.9] * len(objects), [cls] * len(objects), "m")
    out.tracker_id = np.array([tid for tid, _, _ in objects], dtype=int)
    return out


def rule(**overrides: object) -> ZoneRule:
    settings: dict[str, object] = dict(id="r", type="zone", zone="z", min_frames=3, cooldown_s=10)
    settings.update(overrides)
    return ZoneRule(ZoneRuleConfig(**settings), ZONE, forget_after_s=3.0)


def run(r: ZoneRule, frames: list[sv.Detections], fps: float = 10.0) -> list[tuple[float, int | None]]:
    out = []
    for index, frame in enumerate(frames):
        out += [(round(e.t_s, 3), e.track_id) for e in r.update(index / fps, frame)]
    return out


OUT, IN, EDGE = (50.0, 200.0), (200.0, 200.0), (100.0, 200.0)


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("enters after min_frames", [OUT, OUT, IN, IN, IN, IN], [(0.4, 1)]),
        ("two frames inside is not enough", [OUT, IN, IN, OUT, OUT, IN, IN, OUT], []),
        ("first seen inside counts as enter", [IN, IN, IN], [(0.2, 1)]),
        ("a foot on the edge is in the band: no entry", [OUT, EDGE, EDGE, EDGE], []),
        ("past the band it enters", [OUT, EDGE, EDGE, IN, IN, IN], [(0.5, 1)]),
        ("jitter across the edge fires once", [OUT, IN, IN, IN, OUT, IN, OUT, IN, IN, IN], [(0.3, 1)]),
    ],
)
def test_enter_table(name: str, path: list[tuple[float, float]], expected: list[tuple[float, int]]) -> None:
    frames = [dets((1, x, y)) for x, y in path]
    assert run(rule(), frames) == expected, name


def test_without_a_band_a_foot_on_the_edge_is_inside() -> None:
    frames = [dets((1, *p)) for p in [OUT, EDGE, EDGE, EDGE]]
    assert run(rule(band_px=0), frames) == [(0.3, 1)]


def test_leaving_and_coming_back_respects_track_cooldown() -> None:
    path = [IN] * 3 + [OUT] * 3 + [IN] * 3  # re-enters at 0.8 s, inside the 10 s cooldown
    assert run(rule(), [dets((1, *p)) for p in path]) == [(0.2, 1)]
    assert run(rule(cooldown_s=0), [dets((1, *p)) for p in path]) == [(0.2, 1), (0.8, 1)]


def test_cooldown_expiry_fires_again() -> None:
    path = [IN] * 3 + [OUT] * 3 + [IN] * 3
    frames = [dets((1, *p)) for p in path]
    # At 1 fps the re-entry lands at t=8 s; cooldown 5 s has run out by then.
    assert run(rule(cooldown_s=5), frames, fps=1.0) == [(2.0, 1), (8.0, 1)]


def test_rule_scope_cooldown_silences_other_tracks() -> None:
    frames = [dets((1, *IN), (2, *IN))] * 3
    assert run(rule(cooldown_scope="track"), frames) == [(0.2, 1), (0.2, 2)]
    assert run(rule(cooldown_scope="rule"), frames) == [(0.2, 1)]


def test_exit_trigger_needs_a_settled_inside() -> None:
    out_first = [OUT] * 5
    assert run(rule(trigger="exit"), [dets((1, *p)) for p in out_first]) == []
    in_then_out = [IN] * 3 + [OUT] * 3
    assert run(rule(trigger="exit"), [dets((1, *p)) for p in in_then_out]) == [(0.5, 1)]


def test_unconfirmed_tracks_and_other_classes_are_ignored() -> None:
    assert run(rule(), [dets((-1, *IN))] * 5) == []
    assert run(rule(classes=["person"]), [dets((1, *IN), cls="forklift")] * 5) == []


def test_missing_frames_keep_the_streak() -> None:
    frames = [dets((1, *IN)), dets(), dets((1, *IN)), dets(), dets((1, *IN))]
    assert run(rule(), frames) == [(0.4, 1)]


def test_event_fields_and_description_template() -> None:
    r = rule(event=EventSpec(severity="high", description="{class} #{track_id} in {zone}"))
    events = []
    for index in range(3):
        events += r.update(index / 10, dets((7, *IN)))
    (event,) = events
    assert event.describe() == "person #7 in z"
    assert event.zone_id == "z" and event.class_name == "person"
    assert len(event.detections) == 1
    assert r.state()["inside"] == 1 and r.state()["fired_total"] == 1


def test_the_page_reads_the_zone_count_and_the_rules_own_words() -> None:
    """What the page shows for a zone rule comes from the rule itself (Rule.tally and
    Rule.headline), not from the page knowing each rule type."""
    r = rule()
    for index in range(3):
        r.update(index / 10, dets((7, *IN), (8, *IN)))
    state = rules_state([r], 0.2)
    assert state["zones"] == {"z": 2}
    assert state["rules"]["r"]["headline"] == "2 people inside"  # type: ignore[index]


def test_relative_polygons_scale_with_the_frame() -> None:
    assert to_pixels([[0, 0], [1, 0.5]], 640, 360).tolist() == [[0, 0], [640, 180]]
    assert to_pixels([[0, 0], [2, 0.5]], 640, 360).tolist() == [[0, 0], [2, 0.5]]


def test_points_in_polygon_edges_and_corners_count() -> None:
    points = np.array([[100, 100], [200, 100], [200, 200], [99.9, 200], [300.1, 300]])
    assert points_in_polygon(points, ZONE).tolist() == [True, True, True, False, False]


def test_anchor_option_picks_the_point_tested() -> None:
    # A box whose feet are below the zone but whose centre is inside it.
    tall = [dets((1, 200.0, 320.0))] * 3  # box y 260..320: centre 10 px inside, feet 20 px out
    assert run(rule(), tall) == []
    assert run(rule(anchor="center"), tall) == [(0.2, 1)]


def test_box_partly_outside_the_frame_is_not_clipped_into_the_zone() -> None:
    # Zone along the left frame edge; a person walking in from the left has a box that
    # starts at x=-80. Its unclipped bottom centre (x=-50) is outside; clipping the box
    # to the frame first would have put its centre at x=-5 -> 10 and inside.
    edge_zone = np.array([[0, 0], [40, 0], [40, 400], [0, 400]], dtype=float)
    r = ZoneRule(ZoneRuleConfig(id="r", type="zone", zone="z", cooldown_s=0), edge_zone, 3.0)
    box = make_detections([[-80, 100, -20, 300]], [0.9], ["person"], "m")
    box.tracker_id = np.array([1])
    assert run(r, [box] * 5) == []


def test_zone_cooldown_scope_one_alert_for_everyone_in_the_zone() -> None:
    frames = [dets((1, *IN), (2, *IN))] * 3
    assert run(rule(cooldown_scope="zone"), frames) == [(0.2, 1)]
