"""Loiter rule: a tracked object stays in a zone for ``dwell_s`` seconds of frame time.

A visit survives gaps (outside, or not seen) of up to ``gap_s``, so edge jitter and a
person missed for a few frames do not restart the clock; one event per visit. Dwell is
``t_s - visit start``, never a frame count (a source that drops frames loiters no
longer than one that does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import supervision as sv
from pydantic import Field

from streamer.rules.base import RuleContext, RuleEvent, duration_words, view
from streamer.rules.common import TrackedRule
from streamer.rules.cooldown import EPS_S
from streamer.schema.bases import TrackRuleBase, ZoneScoped

# --- config ---------------------------------------------------------------------------


class LoiterRuleConfig(ZoneScoped, TrackRuleBase):
    type: Literal["loiter"]
    zone: str = Field(description="Id of a zone in `zones`.")
    dwell_s: float = Field(gt=0, description="Seconds inside the zone before an event.")
    gap_s: float = Field(
        1.0, ge=0, description="Seconds outside or unseen that do not end a visit; a "
        "person seen inside in the previous frame was never away."
    )

    def build(self, context: RuleContext) -> LoiterRule:
        return LoiterRule(self, context.zones[self.zone], context.forget_after_s)


# --- plugin -----------------------------------------------------------------------------


@dataclass
class _Visit:
    started_s: float
    last_inside_s: float
    fired: bool = False


class LoiterRule(TrackedRule[_Visit]):
    """Args: config; the zone's polygon in pixels; forget_after_s (tracker buffer)."""

    kind = "loiter"

    def __init__(
        self, config: LoiterRuleConfig, polygon: np.ndarray, forget_after_s: float
    ) -> None:
        super().__init__(config, max(forget_after_s, config.gap_s))
        self.config: LoiterRuleConfig = config
        self.polygon = np.asarray(polygon, dtype=np.float64)

    def _step(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        c = self.config
        events: list[RuleEvent] = []
        indices, ids = self._followed(dets)
        inside = view(dets).inside(c.anchor, self.polygon)[indices]
        for index, track_id in zip(indices[inside].tolist(), ids[inside].tolist()):
            visit = self._tracks.get(track_id)
            # A gap is time away and a frame missed: a slow pipeline's frames may lie
            # further apart than gap_s (continuity.lost).
            if visit is None or (
                t_s - visit.last_inside_s > c.gap_s + EPS_S
                and visit.last_inside_s < self._previous_t_s
            ):
                visit = self._tracks[track_id] = _Visit(started_s=t_s, last_inside_s=t_s)
            visit.last_inside_s = t_s
            dwell = t_s - visit.started_s
            if visit.fired or dwell + EPS_S < c.dwell_s:
                continue
            visit.fired = True
            if self._try_fire(track_id, c.zone, t_s):
                events.append(
                    self._track_event(
                        t_s, dets, index, track_id, c.zone, f"in {c.zone} for {dwell:.1f} s",
                        {"dwell_s": f"{dwell:.1f}"},
                    )
                )
        # A visit ends after gap_s away; its state goes once the tracker would forget it.
        self._sweep(t_s)
        return events

    def _seen_s(self, state: _Visit) -> float:
        return state.last_inside_s

    def geometry(self) -> tuple[float, ...]:
        return tuple(self.polygon.ravel().tolist())

    def _dwell_s(self) -> dict[str, float]:
        """Each track now inside (or away for less than ``gap_s``): seconds since it came."""
        t = self._last_t_s
        return {
            str(tid): round(t - v.started_s, 3)
            for tid, v in self._tracks.items()
            if t - v.last_inside_s <= self.config.gap_s
        }

    def headline(self) -> str:
        longest = max([0.0, *self._dwell_s().values()])
        return "longest stay " + duration_words(longest) if longest > 0 else "nobody lingering"

    def state(self) -> dict[str, object]:
        return {**self._base_state(), "zone": self.config.zone, "dwell_s": self._dwell_s()}
