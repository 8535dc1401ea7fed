"""Count rule: how many matching objects are in a zone (or the frame), held for ``for_s``.

Counts every matching detection, tracked or not (a count needs no identity). design.md:
``for_s`` starts at the first frame where the condition holds and the rule fires on the
first frame where ``t - start >= for_s``; it fires once and re-arms only after the
condition has been false for ``clear_s``.
"""

from __future__ import annotations

import operator
from typing import Literal

import numpy as np
import supervision as sv
from pydantic import Field

from streamer.rules.base import RuleContext, RuleEvent, class_mask, view
from streamer.rules.common import RuleCore
from streamer.rules.cooldown import EPS_S
from streamer.schema import Anchor, CooldownScope, EventSpec, RuleBase

# --- config ---------------------------------------------------------------------------


class CountRuleConfig(RuleBase):
    type: Literal["count"]
    zone: str | None = Field(None, description="Count inside this zone; default the whole frame.")
    op: Literal[">=", ">", "<=", "<", "=="] = ">="
    threshold: int = Field(ge=0, description="Number the count is compared with.")
    for_s: float = Field(0.0, ge=0, description="Seconds the condition must hold before firing.")
    clear_s: float = Field(
        1.0, ge=0, description="Seconds the condition must be false before the rule re-arms."
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
        self.polygon = None if polygon is None else np.asarray(polygon, dtype=np.float64)
        self._compare = _OPS[config.op]
        self._reset()

    def _reset(self) -> None:
        self.count = 0
        self._armed = True
        self._true_since: float | None = None
        self._false_since: float | None = None

    def _step(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        c = self.config
        mask = class_mask(dets, c.classes, c.min_confidence)
        if self.polygon is not None:
            mask &= view(dets).inside(c.anchor, self.polygon)
        self.count = int(np.count_nonzero(mask))
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
        counted = dets[mask]
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

    def state(self) -> dict[str, object]:
        held = None if self._true_since is None else round(self._last_t_s - self._true_since, 3)
        return {
            **self._base_state(),
            "zone": self.config.zone,
            "count": self.count,
            "armed": self._armed,
            "condition_held_s": held,
        }
