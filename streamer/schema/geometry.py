"""Polygon geometry the config refuses at ``validate``: edges that cross, and places that
mix fractions of the frame with pixels. Kept here, below the rules, so the check needs no
stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from streamer.schema.base import Point


def segments_intersect(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    """Whether segments p1-p2 and q1-q2 properly cross (touching ends do not count)."""

    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def self_intersects(polygon: Any) -> bool:
    """Whether two non-adjacent edges of the closed polygon cross (a zone so drawn has no
    clear inside; checked here, below the rules, because `validate` refuses it)."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    n = len(poly)
    edges = [(poly[i], poly[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if segments_intersect(*edges[i], *edges[j]):
                return True
    return False



def mixed_units(points: Sequence[Point]) -> str | None:
    """Points in [0, 1] are fractions of the frame only when every value is; a place with
    both 0.35 and 640 would be read as pixels and shrink to the frame's top-left corner."""
    values = [value for point in points for value in point]
    pixels = [value for value in values if value > 1 or value < 0]
    fractions = [value for value in values if 0 < value < 1]
    if not pixels or not fractions:
        return None
    return (
        f"mixes fractions of the frame ({fractions[0]:g}) and pixels ({pixels[0]:g}); "
        f"write every corner as fractions 0..1 or every corner in pixels"
    )

