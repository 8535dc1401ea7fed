"""Count rule: how many matching objects are in a zone (or the frame), held for ``for_s``.

Counts every matching detection, tracked or not (a count needs no identity), and tracked
objects the detector missed briefly (not continuity.lost) where they were last counted.
In a zone, a tracked object's anchor must get past the band (as for zone rules) to change
the side it is counted on (issue 18). docs/architecture.md: ``for_s`` starts at the first frame where the
condition holds and the rule fires on the first frame where ``t - start >= for_s``; it
fires once and re-arms only after the condition has been false for ``clear_s``.
"""

from __future__ import annotations

import math
import operator
from typing import Literal

import numpy as np
import supervision as sv
from pydantic import Field

from streamer.detect.base import pick
from streamer.rules.base import (
    FrameView,
    PlaceTally,
    RuleContext,
    RuleEvent,
    class_mask,
    plural,
    view,
)
from streamer.rules.common import RuleCore, ZoneBand
from streamer.rules.cooldown import EPS_S
from streamer.schema.bases import RuleBase, ZoneScoped
from streamer.schema.rule_parts import Anchor, BandSettings, CooldownScope, EventSpec
from streamer.track.continuity import lost

# --- config ---------------------------------------------------------------------------


class CountRuleConfig(ZoneScoped, BandSettings, RuleBase):
    type: Literal["count"]
    zone: str | None = Field(None, description="Count inside this zone; default the whole frame.")
    op: Literal[">=", ">", "<=", "<", "=="] = ">="
    threshold: int = Field(ge=0, description="Number the count is compared with.")
    for_s: float = Field(0.0, ge=0, description="Seconds the condition must hold before firing.")
    clear_s: float = Field(
        1.0, ge=0, description="Seconds the condition must be false before the rule re-arms."
    )
    band_ratio: float = Field(
        0.08, ge=0, le=1, description="The band as a share of the box's height, when band_px is unset."
    )
    anchor: Anchor = "bottom_center"
    cooldown_scope: CooldownScope = "rule"
    event: EventSpec = Field(default_factory=lambda: EventSpec(type="inventory_count"))

    def build(self, context: RuleContext) -> CountRule:
        return CountRule(self, context.zone(self.zone), context.forget_after_s)


# --- plugin -----------------------------------------------------------------------------


_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


class CountRule(RuleCore):
    """Args: config; polygon in pixels or None for the whole frame; forget_after_s."""

    kind = "count"

    def __init__(
        self, config: CountRuleConfig, polygon: np.ndarray | None, forget_after_s: float
    ) -> None:
        super().__init__(config, forget_after_s)
        self.config: CountRuleConfig = config
        self._zone = None if polygon is None else ZoneBand(polygon, config.anchor)
        self._compare = _OPS[config.op]
        self._reset()

    def _reset(self) -> None:
        self.count = 0
        self._armed = True
        self._true_since: float | None = None
        self._false_since: float | None = None
        # Tracked objects: frame time each was last seen, and those counted then.
        self._last_seen: dict[int, float] = {}
        self._counted: set[int] = set()

    def _step(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        c = self.config
        frame = view(dets)
        mask = class_mask(dets, c.classes, c.min_confidence)
        tracked = mask & (frame.ids >= 0)
        if self._zone is not None:
            mask &= self._members(t_s, frame, tracked)
        self.count = int(np.count_nonzero(mask)) + self._held(t_s, frame.ids, tracked, mask)
        if not self._compare(self.count, c.threshold):
            self._true_since = None
            if not self._armed:
                if self._false_since is None:
                    self._false_since = t_s
                if t_s - self._false_since + EPS_S >= c.clear_s:
                    self._armed, self._false_since = True, None
            return []
        self._false_since = None
        if self._true_since is None:
            self._true_since = t_s
        if not self._armed or t_s - self._true_since + EPS_S < c.for_s:
            return []
        # One incident, one firing: a suppressed firing still disarms the rule.
        self._armed = False
        if not self._try_fire(None, c.zone, t_s):
            return []
        counted = pick(dets, mask)
        what = ", ".join(c.classes) if c.classes else "object"
        where = c.zone or "frame"
        return [
            RuleEvent(
                rule_id=c.id,
                t_s=t_s,
                spec=c.event,
                detections=counted,
                reason=(
                    f"{self.count} {what} in {where} ({c.op} {c.threshold} for {c.for_s:g} s)"
                ),
                zone_id=c.zone,
                class_name=what,
                count=self.count,
            )
        ]

    def _members(self, t_s: float, frame: FrameView, tracked: np.ndarray) -> np.ndarray:
        """Whether each detection counts as in the zone: its anchor is, except that a
        tracked object inside the band keeps the side it was counted on, so a person
        standing at the zone's edge, whose anchor jitter carries in and out, does not
        make the count flicker (and break ``for_s``)."""
        zone = self._zone
        assert zone is not None  # called only for a rule with a zone (see _step)
        inside = zone.inside(frame)
        rows = np.flatnonzero(tracked)
        if not len(rows) or not self._last_seen:
            return inside
        near = rows[~zone.past(frame, self.config, rows)]
        if not len(near):
            return inside
        inside = inside.copy()
        for k, track_id in zip(near.tolist(), frame.ids[near].tolist()):
            if not lost(self._last_seen.get(track_id, -math.inf), t_s, self._previous_t_s):
                inside[k] = track_id in self._counted
        return inside

    def _held(self, t_s: float, ids: np.ndarray, tracked: np.ndarray, mask: np.ndarray) -> int:
        """Tracked objects counted though not in this frame: counted when last seen, and not
        lost since (continuity.lost: unseen for at most MAX_GAP_S or two frame intervals). A
        detector misses a person in one frame of eight; without this, a count of two held
        for 0.4 s at 25 fps would hold in 8 % of tries (0.88 ** 20).
        Set operations, not a loop: a count rule sees every person in the frame."""
        present = ids[tracked].tolist()
        self._last_seen.update(dict.fromkeys(present, t_s))
        counted = self._counted
        counted.difference_update(present)
        counted.update(ids[tracked & mask].tolist())
        absent = counted.difference(present)
        previous = self._previous_t_s
        gone = {i for i in absent if lost(self._last_seen[i], t_s, previous)}
        counted -= gone
        if self._forget_due(t_s):
            self._last_seen = {i: t for i, t in self._last_seen.items() if not lost(t, t_s, previous)}
        return len(absent) - len(gone)

    def tally(self, places: PlaceTally) -> None:
        places.count(self.config.zone or "frame", self.count)

    def headline(self) -> str:
        return plural(self.count, "object", "objects") + " counted"

    def state(self) -> dict[str, object]:
        held = None if self._true_since is None else round(self._last_t_s - self._true_since, 3)
        return {
            **self._base_state(),
            "zone": self.config.zone,
            "count": self.count,
            "armed": self._armed,
            "condition_held_s": held,
        }
