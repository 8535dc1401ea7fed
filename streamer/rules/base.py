"""What every rule shares: the event it emits and the protocol it follows.

Rules are pure: ``update(t_s, dets)`` reads only its arguments and its own state, never a
clock, a file or the network, so the same detections always give the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import supervision as sv

from streamer.config.models import EventSpec


@dataclass(frozen=True)
class RuleEvent:
    """One firing of a rule, before it becomes a Vision Events payload.

    Attributes:
        rule_id: the rule that fired.
        t_s: frame time of the firing (seconds).
        spec: the rule's ``event`` section (type, severity, ...).
        detections: the detections that made it fire (pixels of the frame).
        reason: one human line, e.g. "person #4 entered forklift-lane".
        zone_id, track_id, class_name: what the event is about, where it applies.
        count: objects involved (1 for a single track).
    """

    rule_id: str
    t_s: float
    spec: EventSpec
    detections: sv.Detections
    reason: str
    zone_id: str | None = None
    track_id: int | None = None
    class_name: str | None = None
    count: int = 1
    extra: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """The event's description: the configured template filled in, else ``reason``."""
        template = self.spec.description
        if not template:
            return self.reason
        values = {
            "count": self.count,
            "zone": self.zone_id or "",
            "class": self.class_name or "",
            "track_id": "" if self.track_id is None else self.track_id,
            "rule": self.rule_id,
            **self.extra,
        }
        try:
            return template.format_map(values)
        except (KeyError, ValueError, IndexError):
            return template


class Rule(Protocol):
    """One configured rule with its own state; called once per frame, in frame order."""

    rule_id: str

    def update(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]: ...

    def state(self) -> dict[str, object]:
        """Live state for the overlay and monitor (counts, timers); JSON-friendly."""
        ...


def class_mask(dets: sv.Detections, classes: list[str] | None, min_confidence: float) -> np.ndarray:
    """Boolean mask of detections a rule follows."""
    mask = np.ones(len(dets), dtype=bool)
    if len(dets) == 0:
        return mask
    if classes is not None:
        names = dets.data.get("class_name")
        if names is None:
            return np.zeros(len(dets), dtype=bool)
        mask &= np.isin(np.asarray(names).astype(str), classes)
    if dets.confidence is not None:
        mask &= dets.confidence >= min_confidence
    return mask
