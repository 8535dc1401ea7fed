"""Zone rule: a tracked object enters (or exits) a polygon.

A track's side starts unknown; ``min_frames`` consecutive frames on one side settle it,
so jitter across the edge never flips it and an object first seen inside a lane counts
as an enter (docs/architecture.md). "On a side" means more than the band (``band_px``, default
``band_ratio`` x the box's height) away from the nearest edge: a person standing at the
edge, whose anchor a detector's jitter carries in and out, never enters (issue 18).
A frame inside the band breaks a streak towards the other side (the anchor must stay
past the band for ``min_frames``) but keeps the settled side; a frame where the track is
missing neither extends nor breaks a streak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import supervision as sv
from pydantic import Field

from streamer.rules.base import PlaceTally, RuleContext, RuleEvent, plural, view
from streamer.rules.common import TrackedRule, ZoneBand
from streamer.schema.bases import TrackRuleBase, ZoneScoped
from streamer.schema.rule_parts import BandSettings

# --- config ---------------------------------------------------------------------------


class ZoneRuleConfig(ZoneScoped, BandSettings, TrackRuleBase):
    type: Literal["zone"]
    zone: str = Field(description="Id of a zone in `zones`.")
    trigger: Literal["enter", "exit"] = "enter"
    min_frames: int = Field(
        3, ge=1, description="Consecutive frames on the new side before a transition counts."
    )
    band_ratio: float = Field(
        0.05, ge=0, le=1, description="The band as a share of the box's height, when band_px is unset."
    )

    def build(self, context: RuleContext) -> ZoneRule:
        return ZoneRule(self, context.zones[self.zone], context.forget_after_s)


# --- plugin -----------------------------------------------------------------------------


@dataclass
class _TrackSide:
    side: bool | None = None  # settled side: True inside, False outside, None unknown
    candidate: bool | None = None  # side of the current streak
    streak: int = 0
    last_seen_s: float = 0.0


class ZoneRule(TrackedRule[_TrackSide]):
    """``update(t_s, dets, wall_ts)`` -> events, for one configured zone rule.

    Args:
        config: the rule's section of the YAML.
        polygon: the zone's corners in pixels of the frame.
        forget_after_s: frame seconds after which an absent track's state is dropped;
            the tracker's lost buffer, so a track that can come back keeps its side.
    """

    kind = "zone"

    def __init__(self, config: ZoneRuleConfig, polygon: np.ndarray, forget_after_s: float) -> None:
        super().__init__(config, forget_after_s)
        self.config: ZoneRuleConfig = config
        self._zone = ZoneBand(polygon, config.anchor)
        self.polygon = self._zone.polygon

    def _step(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        c = self.config
        events: list[RuleEvent] = []
        indices, ids = self._followed(dets)
        frame = view(dets)
        inside = self._zone.inside(frame)[indices]
        tracks = self._tracks
        for index, track_id, side in zip(indices.tolist(), ids.tolist(), inside.tolist()):
            state = tracks.get(track_id)
            if state is None:
                state = tracks[track_id] = _TrackSide()
            state.last_seen_s = t_s
            if state.side == side:
                state.candidate = side
                continue  # settled and still there, band or not: the common case
            if not self._zone.past(frame, c, index):
                # Inside the band: the settled side stands, a streak towards the other breaks.
                state.candidate, state.streak = None, 0
                continue
            if state.candidate == side:
                state.streak += 1
            else:
                state.candidate, state.streak = side, 1
            if state.streak < c.min_frames:
                continue
            previous, state.side = state.side, side
            entered = side and c.trigger == "enter"
            exited = (not side) and previous is True and c.trigger == "exit"
            if (entered or exited) and self._try_fire(track_id, c.zone, t_s):
                verb = "entered" if entered else "left"
                events.append(self._track_event(t_s, dets, index, track_id, c.zone, f"{verb} {c.zone}"))
        self._sweep(t_s)
        return events

    def _inside(self) -> int:
        return sum(1 for s in self._tracks.values() if s.side is True)

    def state(self) -> dict[str, object]:
        return {**self._base_state(), "zone": self.config.zone, "inside": self._inside()}

    def tally(self, places: PlaceTally) -> None:
        places.at_least(self.config.zone, self._inside())

    def headline(self) -> str:
        return plural(self._inside(), "person", "people") + " inside"

    def geometry(self) -> tuple[float, ...]:
        return tuple(self.polygon.ravel().tolist())
