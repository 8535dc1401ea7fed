"""Line rule: tracked objects crossing a segment, in a direction, with running counts.

A crossing counts only when the anchor was settled on one side for ``min_frames`` and
then on the other side for ``min_frames``: jitter on the line never counts, in either
direction (roboflow/supervision#2598). Frames on the line, or missing, neither extend
nor break a streak; a point beyond the segment's ends unsettles the side, so walking
round the end is no crossing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import supervision as sv
from pydantic import Field

from streamer.rules.base import RuleContext, RuleEvent, view
from streamer.rules.common import RuleCore
from streamer.rules.geometry import line_sides
from streamer.schema import TrackRuleBase

# --- config ---------------------------------------------------------------------------


class LineRuleConfig(TrackRuleBase):
    type: Literal["line"]
    line: str = Field(description="Id of a line in `lines`.")
    direction: Literal["left_to_right", "right_to_left", "both"] = Field(
        "both", description="Seen walking from the line's start to its end."
    )
    min_frames: int = Field(
        2, ge=1, description="Frames on each side that make a crossing (no jitter counts)."
    )

    def build(self, context: RuleContext) -> LineRule:
        return LineRule(self, context.lines[self.line], context.forget_after_s)


# --- plugin -----------------------------------------------------------------------------


_DIRECTION = {1: "left_to_right", -1: "right_to_left"}


@dataclass
class _TrackLine:
    side: int = 0  # settled side: +1 right, -1 left, 0 unknown
    candidate: int = 0
    streak: int = 0
    last_seen_s: float = 0.0


class LineRule(RuleCore):
    """Args: config; the line's (start, end) in pixels; forget_after_s (tracker buffer)."""

    kind = "line"

    def __init__(
        self, config: LineRuleConfig, segment: np.ndarray, forget_after_s: float
    ) -> None:
        super().__init__(config, forget_after_s)
        self.config: LineRuleConfig = config
        self.start = np.asarray(segment[0], dtype=np.float64)
        self.end = np.asarray(segment[1], dtype=np.float64)
        self.in_count = 0  # left_to_right crossings
        self.out_count = 0  # right_to_left crossings
        self._tracks: dict[int, _TrackLine] = {}

    def _reset(self) -> None:
        # Running counts are the line's history, kept across schedule gaps.
        self._tracks.clear()

    def _step(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        c = self.config
        events: list[RuleEvent] = []
        indices, ids = self._followed(dets)
        if len(indices):
            sides = line_sides(view(dets).anchors(c.anchor)[indices], self.start, self.end)
        else:
            sides = np.zeros(0, dtype=int)
        tracks = self._tracks
        for index, track_id, side in zip(indices.tolist(), ids.tolist(), sides.tolist()):
            state = tracks.get(track_id)
            if state is None:
                state = tracks[track_id] = _TrackLine()
            state.last_seen_s = t_s
            if side == 0:
                if not self._on_segment_line(dets, index, c.anchor):
                    state.side, state.candidate, state.streak = 0, 0, 0
                continue
            if state.candidate == side:
                if state.side == side:
                    continue  # settled and still there
                state.streak += 1
            else:
                state.candidate, state.streak = side, 1
            if state.streak < c.min_frames or state.side == side:
                continue
            previous, state.side = state.side, side
            if previous == 0:
                continue  # first settled side: no crossing yet
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
        if not self._forget_due(t_s):
            return events
        stale = [t for t, s in self._tracks.items() if t_s - s.last_seen_s > self._forget_after_s]
        for track_id in stale:
            del self._tracks[track_id]
            self._cooldown.forget(track_id, t_s)
        return events

    def _on_segment_line(self, dets: sv.Detections, index: int, anchor: str) -> bool:
        """Whether a sideless point lies on the segment itself (not beyond its ends)."""
        point = view(dets).anchors(anchor)[index]
        d = self.end - self.start
        along = float((point - self.start) @ d) / float(d @ d)
        return 0.0 <= along <= 1.0

    def state(self) -> dict[str, object]:
        return {
            **self._base_state(),
            "line": self.config.line,
            "in": self.in_count,
            "out": self.out_count,
        }
