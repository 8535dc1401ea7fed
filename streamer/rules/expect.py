"""``expect_within_h``: a rule that has seen nothing for too long says so (issue 27).

The lane of a working warehouse is never empty for eight hours. When no object of a
rule's classes has been in its place for ``expect_within_h`` hours of frame time while
frames kept coming, the rule is probably blind (its zone drawn where nothing passes, a
class the model never finds, a camera that looks elsewhere) and a warning event says so,
once per blind spell.

Pure, like every rule: time is frame time. Gaps between frames longer than
``MAX_GAP_S`` (the camera away) do not count as watched time.
"""

from __future__ import annotations

import numpy as np
import supervision as sv

from streamer.rules.base import PlaceTally, Rule, RuleContext, RuleEvent, view
from streamer.rules.schedule import Schedule
from streamer.schema.bases import RuleBase
from streamer.schema.rule_parts import EventSpec

MAX_GAP_S = 10.0  # frames further apart than this: the camera was away, not watched


class ExpectWithin(Rule):
    """Wraps a rule: its own events pass through, plus the blind-rule warning.

    Everything else (``config``, ``geometry``, ``tally``, ``state``) is the wrapped rule's,
    so a reload compares and carries it as before.
    """

    def __init__(self, rule: Rule, config: RuleBase, context: RuleContext) -> None:
        assert config.expect_within_h is not None
        self.inner = rule
        self.rule_id = rule.rule_id
        self.config = rule.config
        self._config = config
        self._limit_s = config.expect_within_h * 3600.0
        classes, zone, anchor = config.expected()
        self._classes = classes
        self._zone = zone
        self._anchor = anchor
        self._polygon = context.zone(zone)
        self._schedule = Schedule(config.schedule)
        self._watched_s = 0.0  # frame time watched since an expected object was last seen
        self._last_t_s: float | None = None
        self._warned = False
        self.warnings_total = 0

    def tally(self, places: PlaceTally) -> None:
        self.inner.tally(places)

    def geometry(self) -> tuple[float, ...]:
        return self.inner.geometry()

    def headline(self) -> str | None:
        return self.inner.headline()

    def update(self, t_s: float, dets: sv.Detections, wall_ts: float | None = None) -> list[RuleEvent]:
        events = self.inner.update(t_s, dets, wall_ts)
        previous, self._last_t_s = self._last_t_s, t_s
        if not (self._config.enabled and self._schedule.active(wall_ts)):
            return events  # off hours are not watched time
        if self._seen(dets):
            self._watched_s, self._warned = 0.0, False
            return events
        if previous is not None and 0 < t_s - previous <= MAX_GAP_S:
            self._watched_s += t_s - previous
        if self._watched_s >= self._limit_s and not self._warned:
            self._warned = True
            self.warnings_total += 1
            events = [*events, self._warning(t_s)]
        return events

    def _seen(self, dets: sv.Detections) -> bool:
        v = view(dets)
        if v.n == 0:
            return False
        mask = v.mask(self._classes, self._config.min_confidence)
        if self._polygon is not None and mask.any():
            mask &= v.inside(self._anchor, self._polygon)
        return bool(np.any(mask))

    def _warning(self, t_s: float) -> RuleEvent:
        hours = self._config.expect_within_h
        what = ", ".join(self._classes) if self._classes else "object"
        where = f"in {self._zone}" if self._zone else "in view"
        line = f"no {what} {where} for {hours:g} h while the camera was live: is rule {self.rule_id} blind?"
        spec = EventSpec(
            type="safety_alert", alert_type="rule_blind", severity="medium", description=line,
            custom_metadata={"warning": "expect_within_h", "expect_within_h": f"{hours:g}"},
        )
        return RuleEvent(
            rule_id=self.rule_id, t_s=t_s, spec=spec, detections=sv.Detections.empty(), reason=line,
            zone_id=self._zone, count=0,
        )

    def state(self) -> dict[str, object]:
        state = dict(self.inner.state())
        state["unseen_h"] = round(self._watched_s / 3600.0, 3)
        state["expect_within_h"] = self._config.expect_within_h
        return state
