"""Geometry properties (hypothesis): our inside test agrees with OpenCV; line sides and
crossings behave as the design says for any line and any points."""

from __future__ import annotations

import math

import cv2
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streamer.rules.geometry import line_sides, points_in_polygon, self_intersects

coord = st.floats(min_value=-500, max_value=1500, allow_nan=False, allow_infinity=False)
point = st.tuples(coord, coord)


@st.composite
def simple_polygons(draw: st.DrawFn) -> np.ndarray:
    """A star-shaped polygon: corners at sorted angles round a centre (never self-crossing)."""
    n = draw(st.integers(min_value=3, max_value=9))
    cx, cy = draw(coord), draw(coord)
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi - 1e-3), min_size=n, max_size=n, unique=True)))
    assume(all(b - a > 1e-2 for a, b in zip(angles, angles[1:])))
    radii = draw(st.lists(st.floats(5, 400), min_size=n, max_size=n))
    # Integer corners, as drawn in pixels, so OpenCV sees the same polygon.
    poly = np.array([[round(cx + r * math.cos(a)), round(cy + r * math.sin(a))] for a, r in zip(angles, radii)], float)
    assume(len({tuple(p) for p in poly}) == n and not self_intersects(poly))
    return poly


@settings(max_examples=300, deadline=None)
@given(simple_polygons(), st.lists(point, min_size=1, max_size=20))
def test_inside_agrees_with_opencv(polygon: np.ndarray, points: list[tuple[float, float]]) -> None:
    contour = polygon.astype(np.float32).reshape(-1, 1, 2)
    ours = points_in_polygon(np.array(points), polygon)
    for (x, y), inside in zip(points, ours):
        distance = cv2.pointPolygonTest(contour, (float(x), float(y)), True)
        if abs(distance) < 1e-3:
            continue  # float32 contour vs float64 test: on-edge ties are ours to decide
        assert inside == (distance > 0), (x, y, distance)


@settings(max_examples=200, deadline=None)
@given(simple_polygons())
def test_corners_and_edge_midpoints_count_as_inside(polygon: np.ndarray) -> None:
    mids = (polygon + np.roll(polygon, -1, axis=0)) / 2
    assert points_in_polygon(polygon, polygon).all()
    assert points_in_polygon(mids, polygon).all()


def _clear_of_line(p: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Points at least a micro-pixel from the line and from the segment's end normals:
    where float rounding of a moved picture cannot change the answer."""
    d = e - s
    length = float(np.hypot(*d))
    rel = p - s
    distance = np.abs(d[0] * rel[:, 1] - d[1] * rel[:, 0]) / length
    along = (rel @ d) / length  # pixels along the line from its start
    return (distance > 1e-6) & (np.abs(along) > 1e-6) & (np.abs(along - length) > 1e-6)


@settings(max_examples=300, deadline=None)
@given(point, point, st.lists(point, min_size=1, max_size=20))
def test_line_side_invariants(start: tuple, end: tuple, points: list[tuple]) -> None:
    s, e, p = np.array(start), np.array(end), np.array(points)
    assume(np.hypot(*(e - s)) > 1.0)
    clear = _clear_of_line(p, s, e)
    sides = line_sides(p, s, e)
    # Reversing the line swaps left and right, never the "no side" answer.
    assert (line_sides(p, e, s)[clear] == -sides[clear]).all()
    # Moving the whole picture, or turning it, changes no side.
    shift = np.array([37.5, -12.25])
    assert (line_sides(p + shift, s + shift, e + shift)[clear] == sides[clear]).all()
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert (line_sides(p @ turn.T, turn @ s, turn @ e)[clear] == sides[clear]).all()
    # Mirroring across the line swaps sides.
    d = (e - s) / np.hypot(*(e - s))
    rel = p - s
    mirrored = s + 2 * np.outer(rel @ d, d) - rel
    assert (line_sides(mirrored, s, e)[clear] == -sides[clear]).all()


@settings(max_examples=300, deadline=None)
@given(point, point, st.floats(0.01, 0.99), st.floats(1, 200))
def test_stepping_across_the_middle_changes_side(start: tuple, end: tuple, along: float,
                                                  offset: float) -> None:
    s, e = np.array(start), np.array(end)
    length = np.hypot(*(e - s))
    assume(length > 1.0)
    d = (e - s) / length
    normal = np.array([-d[1], d[0]])  # turned clockwise on screen: the picture's left
    base = s + along * (e - s)
    left, right = base + offset * normal, base - offset * normal
    assert line_sides(np.array([left, right]), s, e).tolist() == [-1, 1]
