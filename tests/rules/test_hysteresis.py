"""Band, travel and id-switch guards (issue 18): noisy real-world anchors near a line or an
edge give the crossings and entries the person really made, no more."""

from __future__ import annotations

import numpy as np
import pytest
from support.rule_frames import box, foot, frame, play, timeline

from streamer.config.models import LineRuleConfig, ZoneRuleConfig
from streamer.rules.geometry import edge_distances, line_offsets
from streamer.rules.line import LineRule
from streamer.rules.zone import ZoneRule

FPS = 25.0
HEIGHT, WIDTH = 150.0, 50.0  # a pedestrian in a 640x480 street scene
VERTICAL = np.array([[320, 0], [320, 480]], dtype=float)  # drawn top to bottom
HORIZONTAL = np.array([[0, 300], [640, 300]], dtype=float)  # drawn left to right


def line_rule(segment: np.ndarray, **overrides: object) -> LineRule:
    settings: dict[str, object] = dict(id="gate", type="line", line="gate", cooldown_s=0)
    settings.update(overrides)
    return LineRule(LineRuleConfig(**settings), segment, forget_after_s=3.0)


def noisy(path: list[tuple[float, float]], seed: int, miss: float = 0.12,
          jitter_px: float = 4.0) -> list[object]:
    """One person's foot positions as a detector sees them: 12 % of frames missed and
    every box edge jittered by a Gaussian of ``jitter_px`` (what a YOLO-class model does)."""
    rng = np.random.default_rng(seed)
    frames = []
    for x, y in path:
        if rng.random() < miss:
            frames.append(frame())
            continue
        x1, y1, x2, y2 = np.array([x - WIDTH / 2, y - HEIGHT, x + WIDTH / 2, y]) + rng.normal(0, jitter_px, 4)
        frames.append(frame(box(1, x1, y1, x2, y2)))
    return frames


def approach_and_stand(start: tuple[float, float], stand: tuple[float, float],
                       leave: tuple[float, float]) -> list[tuple[float, float]]:
    """Walk 2 s from ``start`` to ``stand``, stand there 10 s, walk 2 s to ``leave``."""
    steps = int(2 * FPS)
    walk_in = [tuple(np.array(start) + (np.array(stand) - start) * i / steps) for i in range(steps)]
    walk_out = [tuple(np.array(stand) + (np.array(leave) - stand) * i / steps) for i in range(1, steps + 1)]
    return walk_in + [stand] * int(10 * FPS) + walk_out  # type: ignore[return-value]


# (line, where the person stands 6 px from it, where they come from and go, real crossings)
STANDING = [
    ("vertical, stays left", VERTICAL, (314, 300), (150, 300), (150, 300), 0),
    ("vertical, crosses and stands right", VERTICAL, (326, 300), (150, 300), (500, 300), 1),
    ("horizontal, stays above", HORIZONTAL, (320, 294), (320, 200), (320, 200), 0),
    ("horizontal, crosses and stands below", HORIZONTAL, (320, 306), (320, 200), (320, 420), 1),
]


@pytest.mark.parametrize(("name", "segment", "stand", "start", "leave", "real"), STANDING)
def test_standing_6px_from_a_line_for_10s_gives_only_real_crossings(
    name: str, segment: np.ndarray, stand: tuple[float, float], start: tuple[float, float],
    leave: tuple[float, float], real: int,
) -> None:
    path = approach_and_stand(start, stand, leave)
    counted = [len(play(line_rule(segment), noisy(path, seed), fps=FPS)) for seed in range(20)]
    assert max(counted) <= real, (name, counted)
    assert counted == [real] * 20, (name, counted)  # and the real crossing still counts


def test_without_a_band_the_same_noise_counts_crossings_nobody_made() -> None:
    # The control for the test above: what issue 18 saw (min_frames 2, no band).
    path = approach_and_stand((320, 200), (320, 294), (320, 200))
    counted = [len(play(line_rule(HORIZONTAL, band_px=0, min_travel_px=0), noisy(path, seed), fps=FPS))
               for seed in range(20)]
    assert sum(counted) >= 10, counted


def test_standing_6px_outside_a_zone_edge_never_enters() -> None:
    zone = np.array([[0, 300], [640, 300], [640, 480], [0, 480]], dtype=float)
    path = approach_and_stand((320, 200), (320, 294), (320, 200))
    for band in (None, 0.0):
        config = ZoneRuleConfig(id="z", type="zone", zone="z", cooldown_s=0, band_px=band, min_frames=2)
        entries = sum(len(play(ZoneRule(config, zone, 3.0), noisy(path, seed), fps=FPS))
                      for seed in range(20))
        if band is None:
            assert entries == 0
        else:
            assert entries > 0  # the control: without a band the jitter enters


L, R = 150.0, 250.0
GATE = np.array([[200, 100], [200, 300]], dtype=float)


def test_band_px_sets_the_distance_past_the_line() -> None:
    # 30 px past the line: enough for band_px 20, not for band_px 40.
    path = [frame(foot(1, x, 200, h=240)) for x in (L, L, 230, 230, 230)]
    assert timeline(play(line_rule(GATE, band_px=20), path)) == [(0.3, 1)]
    assert play(line_rule(GATE, band_px=40), path) == []


def test_a_track_that_never_moved_counts_no_crossing() -> None:
    # A box parked on the line whose anchor wobbles 3 px either side of it.
    wobble = [frame(foot(1, 200 + d, 200, h=240)) for d in [-3, -3, 3, 3, -3, -3, 3, 3]]
    assert play(line_rule(GATE, band_px=2), wobble) == []
    assert len(play(line_rule(GATE, band_px=2, min_travel_px=0), wobble)) == 3


def test_an_id_switch_is_no_crossing() -> None:
    # Track 1 follows a person on the left, then the tracker hands it to someone 100 px
    # away on the right within one frame (a 60 px person cannot move that fast).
    switched = [frame(foot(1, x, 200)) for x in (L, L, L, R, R, R)]
    assert play(line_rule(GATE), switched) == []
    # Unseen for a second, then on the other side: maybe another person, no crossing.
    gap = [frame(foot(1, L, 200, h=240))] * 2 + [frame()] * 10 + [frame(foot(1, R, 200, h=240))] * 2
    assert play(line_rule(GATE), gap) == []


def test_a_zone_narrower_than_two_bands_can_still_be_entered() -> None:
    # A 20 px tall strip and a 200 px tall person (band 10 px): the band is capped at 5 px.
    strip = np.array([[100, 290], [300, 290], [300, 310], [100, 310]], dtype=float)
    rule = ZoneRule(ZoneRuleConfig(id="z", type="zone", zone="z", cooldown_s=0), strip, 3.0)
    path = [frame(foot(1, 200, y, h=200)) for y in (250, 250, 300, 300, 300)]
    assert timeline(play(rule, path)) == [(0.4, 1)]


def test_distances_behind_the_band() -> None:
    offsets, within = line_offsets(np.array([[190, 150], [215, 150], [215, 350]]), GATE[0], GATE[1])
    assert offsets.tolist() == [-10, 15, 15] and within.tolist() == [True, True, False]
    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=float)
    points = np.array([[50, 50], [10, 50], [-5, 50], [110, 110], [100, 40]])
    assert np.allclose(edge_distances(points, square), [50, 10, 5, np.hypot(10, 10), 0])


def test_a_track_first_seen_one_frame_before_the_band_counts_its_crossing() -> None:
    # The tracker confirms a track on its second frame, so a person who appears just
    # before the line is followed for one frame past the band on their first side.
    path = [frame(foot(1, x, 200, h=240)) for x in (170, 190, 210, 230, 230)]
    assert timeline(play(line_rule(GATE), path)) == [(0.4, 1)]
    # A side after an id switch (here: unseen for a second) still needs min_frames.
    gap = [frame(foot(1, 170, 200, h=240))] * 2 + [frame()] * 10 + [
        frame(foot(1, x, 200, h=240)) for x in (170, 190, 210, 230, 230)]
    assert timeline(play(line_rule(GATE), gap)) == []
