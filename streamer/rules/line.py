"""Line rule: tracked objects crossing a segment, in a direction, with running counts.

A crossing counts only when the anchor was settled on one side for ``min_frames`` and
then on the other side for ``min_frames``, where "on a side" means more than the band
(``band_px``, default ``band_ratio`` x the box's height) away from the line: a person
standing by the line, whose anchor a detector's jitter carries across it, never counts
(issue 18; roboflow/supervision#2598). A frame inside the band breaks a streak but keeps
the settled side; a missing frame neither extends nor breaks it; a point beyond the
segment's ends unsettles the side, so walking round the end is no crossing. A track
counts crossings only once it has moved ``min_travel_px`` from where it was first seen,
and a side it settled is forgotten once the track is lost (continuity.lost) or after a
jump no person could make (an id switch in the tracker): two people's sides never make
one crossing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import supervision as sv
from pydantic import Field

from streamer.rules.base import PlaceTally, RuleContext, RuleEvent, view
from streamer.rules.common import TrackedRule, band_widths
from streamer.schema.bases import PlaceKind, TrackRuleBase
from streamer.schema.rule_parts import BandSettings
from streamer.track.continuity import JUMP_SLACK_H, MAX_SPEED_H_PER_S, lost

# --- config ---------------------------------------------------------------------------


class LineRuleConfig(BandSettings, TrackRuleBase):
    type: Literal["line"]
    line: str = Field(description="Id of a line in `lines`.")
    direction: Literal["left_to_right", "right_to_left", "both"] = Field(
        "both", description="Seen walking from the line's start to its end."
    )
    min_frames: int = Field(
        2, ge=1, description="Frames on each side that make a crossing (no jitter counts)."
    )
    min_travel_px: float = Field(
        20.0,
        ge=0,
        description="A track counts crossings only once its anchor has moved this far "
        "from where it was first seen.",
    )

    def named_places(self) -> list[tuple[PlaceKind, str]]:
        return [("line", self.line)]

    def build(self, context: RuleContext) -> LineRule:
        return LineRule(self, context.lines[self.line], context.forget_after_s)


# --- plugin -----------------------------------------------------------------------------


_DIRECTION = {1: "left_to_right", -1: "right_to_left"}
_BEYOND = 2  # projection beyond the segment's ends


@dataclass
class _TrackLine:
    side: int = 0  # settled side: +1 right, -1 left, 0 unknown
    candidate: int = 0
    streak: int = 0
    last_seen_s: float = 0.0
    origin: list[float] = field(default_factory=lambda: [0.0, 0.0])  # anchor when first seen
    travelled: bool = False  # moved min_travel_px from origin: its crossings count
    last: list[float] = field(default_factory=lambda: [0.0, 0.0])  # anchor when last seen
    fresh: bool = True  # no side settled nor forgotten yet: the first side needs one frame


class LineRule(TrackedRule[_TrackLine]):
    """Args: config; the line's (start, end) in pixels; forget_after_s (tracker buffer)."""

    kind = "line"

    def __init__(
        self, config: LineRuleConfig, segment: np.ndarray, forget_after_s: float
    ) -> None:
        super().__init__(config, forget_after_s)
        self.config: LineRuleConfig = config
        self.start = np.asarray(segment[0], dtype=np.float64)
        self.end = np.asarray(segment[1], dtype=np.float64)
        # Signed distance is rel @ _normal (positive right, geometry.line_offsets); the
        # position along the segment is rel @ _along (0 at start, 1 at end).
        d = self.end - self.start
        length_sq = max(float(d @ d), 1e-12)
        self._normal = np.array([d[1], -d[0]]) / math.sqrt(length_sq)
        self._along = d / length_sq
        # Running counts are the line's history, kept across schedule gaps (_reset
        # clears only the tracks).
        self.in_count = 0  # left_to_right crossings
        self.out_count = 0  # right_to_left crossings

    def _step(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        c = self.config
        events: list[RuleEvent] = []
        indices, ids = self._followed(dets)
        frame = view(dets)
        points = frame.anchors(c.anchor)[indices]
        heights = frame.heights[indices]
        rel = points - self.start
        offsets, along = rel @ self._normal, rel @ self._along
        band = band_widths(c, heights, floor=1e-9)  # a nanopixel off the line is on it
        sides = (offsets >= band).astype(np.int8) - (offsets <= -band)
        sides[(along < 0) | (along > 1)] = _BEYOND
        tracks = self._tracks
        rows = zip(indices.tolist(), ids.tolist(), sides.tolist(), points.tolist(), heights.tolist())
        for index, track_id, side, point, height in rows:
            state = tracks.get(track_id)
            if state is None:
                state = tracks[track_id] = _TrackLine(origin=point)
            else:
                # Unseen too long (continuity.lost), or moved further than a person moves
                # (continuity.jumped, inlined: it runs for every track on every frame):
                # maybe another person under this id (an id switch, a false box taking the
                # track over for a frame); their sides must not make a crossing together.
                gap = t_s - state.last_seen_s
                reach = height * (JUMP_SLACK_H + MAX_SPEED_H_PER_S * gap)
                dx, dy = point[0] - state.last[0], point[1] - state.last[1]
                if lost(state.last_seen_s, t_s, self._previous_t_s) or (
                    state.side and dx * dx + dy * dy > reach * reach
                ):
                    state.side, state.candidate, state.streak, state.fresh = 0, 0, 0, False
            state.last, state.last_seen_s = point, t_s
            if not state.travelled:
                state.travelled = (
                    math.hypot(point[0] - state.origin[0], point[1] - state.origin[1])
                    >= c.min_travel_px
                )
            if side == _BEYOND:
                state.side, state.candidate, state.streak = 0, 0, 0
                continue
            if side == 0:
                # Inside the band: the settled side stands, a streak towards the other breaks.
                state.candidate, state.streak = 0, 0
                continue
            if state.candidate == side:
                if state.side == side:
                    continue  # settled and still there
                state.streak += 1
            else:
                state.candidate, state.streak = side, 1
            # A new track's first side needs one frame: the tracker held the object for
            # frames before it gave the id, and a first side alone counts nothing.
            if state.side == side or (state.streak < c.min_frames and not state.fresh):
                continue
            state.fresh = False
            previous, state.side = state.side, side
            if previous == 0 or not state.travelled:
                continue  # first settled side, or a track that has not moved: no crossing
            direction = _DIRECTION[side]
            if side == 1:
                self.in_count += 1
            else:
                self.out_count += 1
            if c.direction not in ("both", direction):
                continue
            if self._try_fire(track_id, c.line, t_s):
                events.append(
                    self._track_event(
                        t_s, dets, index, track_id, c.line, f"crossed {c.line} {direction}",
                        {"direction": direction},
                    )
                )
        self._sweep(t_s)
        return events

    def tally(self, places: PlaceTally) -> None:
        places.crossings(self.config.line, self.in_count, self.out_count)

    def headline(self) -> str:
        return f"{self.in_count} crossed in · {self.out_count} out"

    def geometry(self) -> tuple[float, ...]:
        return (*self.start.tolist(), *self.end.tolist())

    def state(self) -> dict[str, object]:
        return {
            **self._base_state(),
            "line": self.config.line,
            "in": self.in_count,
            "out": self.out_count,
        }
