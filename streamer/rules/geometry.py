"""Zone and line geometry in pixels, vectorised over detections.

Anchors come from the unclipped boxes: supervision's users saw boxes clipped to a zone's
bounds put one person in two zones (roboflow/supervision#1987).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import supervision as sv

# A zone's self-crossing is a config check (validate refuses it), so it lives below the rules.
from streamer.schema.geometry import segments_intersect, self_intersects  # noqa: F401

ANCHORS = {
    "bottom_center": (0.5, 1.0),
    "center": (0.5, 0.5),
    "top_center": (0.5, 0.0),
    "top_left": (0.0, 0.0),
    "top_right": (1.0, 0.0),
    "bottom_left": (0.0, 1.0),
    "bottom_right": (1.0, 1.0),
    "center_left": (0.0, 0.5),
    "center_right": (1.0, 0.5),
}


def is_relative(points: Sequence[Sequence[float]]) -> bool:
    """docs/architecture.md: a shape whose values all lie in [0, 1] is relative to the frame."""
    return all(0.0 <= float(v) <= 1.0 for point in points for v in point)


def to_pixels(points: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """Points as float64 pixels (N, 2); relative shapes are scaled by the frame size."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if is_relative(points):
        array = array * np.array([width, height], dtype=np.float64)
    return array


def anchor_points(dets: sv.Detections, anchor: str = "bottom_center") -> np.ndarray:
    """One (x, y) per detection at ``anchor`` of its box (fractions of the box)."""
    fx, fy = ANCHORS[anchor]
    xyxy = np.asarray(dets.xyxy, dtype=np.float64).reshape(-1, 4)
    x = xyxy[:, 0] + fx * (xyxy[:, 2] - xyxy[:, 0])
    y = xyxy[:, 1] + fy * (xyxy[:, 3] - xyxy[:, 1])
    return np.stack([x, y], axis=1)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Inside test for many points; a point on an edge or corner counts as inside.

    Crossing-number test plus an explicit on-edge check (the crossing test alone is
    arbitrary exactly on edges, where a foot on the painted line must count).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    px, py = pts[:, 0:1], pts[:, 1:2]  # (P, 1)
    nxt = np.concatenate((poly[1:], poly[:1]))
    ax, ay = poly[:, 0], poly[:, 1]  # (E,)
    bx, by = nxt[:, 0], nxt[:, 1]

    # On an edge: collinear with the segment and within its bounding box.
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    within_x = (px >= np.minimum(ax, bx) - eps) & (px <= np.maximum(ax, bx) + eps)
    within_y = (py >= np.minimum(ay, by) - eps) & (py <= np.maximum(ay, by) + eps)
    scale = np.maximum(np.hypot(bx - ax, by - ay), 1.0)
    on_edge = (np.abs(cross) <= eps * scale * 1e3) & within_x & within_y

    # Crossing number: edges that straddle the horizontal through the point, to its right.
    straddles = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = ax + (py - ay) * (bx - ax) / (by - ay)
    crossings = straddles & (px < x_at)
    inside = (np.count_nonzero(crossings, axis=1) % 2) == 1
    result: np.ndarray = inside | on_edge.any(axis=1)
    return result


def line_offsets(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance in pixels of each point from the line start->end, and whether its
    projection falls on the segment.

    The sign follows :func:`line_sides`: positive on the right of the line turned to point
    downwards (for a vertical line drawn top to bottom, larger x).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    s = np.asarray(start, dtype=np.float64)
    d = np.asarray(end, dtype=np.float64) - s
    rel = pts - s
    length_sq = float(d @ d)
    if length_sq <= 0:
        return np.zeros(len(pts)), np.zeros(len(pts), dtype=bool)
    # In image coordinates (y down) "right" is a negative cross product.
    offsets = (d[1] * rel[:, 0] - d[0] * rel[:, 1]) / math.sqrt(length_sq)
    along = (rel @ d) / length_sq
    return offsets, (along >= 0) & (along <= 1)


def line_sides(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Side of the segment start->end for each point: +1 right, -1 left, 0 neither.

    docs/architecture.md: turn the picture so the line points downwards; "right" is then the
    picture's right (for a vertical line drawn top to bottom, larger x). In image
    coordinates (y down) that is a negative cross product. A point on the line, or one
    whose projection falls beyond either end, has no side: walking round the end of a
    line is not a crossing.
    """
    offsets, within = line_offsets(points, start, end)
    sides: np.ndarray = np.sign(offsets).astype(int)
    # Within a nanopixel of the line is on it: float noise must not pick a side.
    sides[(np.abs(offsets) <= 1e-9) | ~within] = 0
    return sides


EdgeArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def polygon_edge_arrays(polygon: np.ndarray) -> EdgeArrays:
    """The closed polygon's edges as arrays (x, y, dx, dy, squared length), computed once
    per zone for :func:`edge_distances`."""
    a = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    d = np.roll(a, -1, axis=0) - a
    return a[:, 0], a[:, 1], d[:, 0], d[:, 1], np.maximum((d * d).sum(axis=1), 1e-12)


def edge_distances(points: np.ndarray, polygon: np.ndarray | EdgeArrays) -> np.ndarray:
    """Distance in pixels from each point to the nearest edge of the closed polygon:
    with :func:`points_in_polygon`, how far inside or outside a zone a point is.
    ``polygon`` may be its :func:`polygon_edge_arrays`, to skip recomputing them."""
    ax, ay, dx, dy, length_sq = (
        polygon if isinstance(polygon, tuple) else polygon_edge_arrays(polygon)
    )
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    rx, ry = pts[:, 0:1] - ax, pts[:, 1:2] - ay  # (P, E)
    t = np.clip((rx * dx + ry * dy) / length_sq, 0.0, 1.0)
    nx, ny = rx - t * dx, ry - t * dy
    distances: np.ndarray = np.sqrt((nx * nx + ny * ny).min(axis=1))
    return distances
