"""Frame tables for rule tests: hand-made detections, no model, no tracker."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv

from streamer.detect.base import make_detections
from streamer.rules.base import RuleEvent

Box = tuple[int, float, float, float, float, str, float]


def box(track_id: int, x1: float, y1: float, x2: float, y2: float, cls: str = "person",
        confidence: float = 0.9) -> Box:
    return (track_id, x1, y1, x2, y2, cls, confidence)


def foot(track_id: int, x: float, y: float, cls: str = "person", w: float = 20, h: float = 60) -> Box:
    """A ``w`` x ``h`` box standing on (x, y): its bottom centre is that point."""
    return box(track_id, x - w / 2, y - h, x + w / 2, y, cls)


def frame(*boxes: Box) -> sv.Detections:
    if not boxes:
        out = make_detections(np.zeros((0, 4)), [], [], "m")
        out.tracker_id = np.zeros(0, dtype=int)
        return out
    out = make_detections([b[1:5] for b in boxes], [b[6] for b in boxes], [b[5] for b in boxes], "m")
    out.tracker_id = np.array([b[0] for b in boxes], dtype=int)
    return out


def play(rule: object, frames: Sequence[sv.Detections], fps: float = 10.0,
         wall0: float | None = None) -> list[RuleEvent]:
    """Feed frames at ``fps`` (frame time index / fps); wall time = wall0 + frame time."""
    events: list[RuleEvent] = []
    for index, dets in enumerate(frames):
        t_s = index / fps
        wall = None if wall0 is None else wall0 + t_s
        events += rule.update(t_s, dets, wall)  # type: ignore[attr-defined]
    return events


def timeline(events: Sequence[RuleEvent]) -> list[tuple[float, int | None]]:
    return [(round(e.t_s, 3), e.track_id) for e in events]
