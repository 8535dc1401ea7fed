"""Zone rule: a tracked object enters (or exits) a polygon.

A track's side starts unknown; ``min_frames`` consecutive frames on one side settle it,
so jitter across the edge never flips it and an object first seen inside a lane counts
as an enter (design.md). Frames where the track is missing neither extend nor break a
streak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from streamer.config.models import ZoneRuleConfig
from streamer.rules.base import RuleEvent, class_mask
from streamer.rules.cooldown import Cooldown
from streamer.rules.geometry import anchor_points, points_in_polygon


@dataclass
class _TrackSide:
    side: bool | None = None  # settled side: True inside, False outside, None unknown
    candidate: bool | None = None  # side of the current streak
    streak: int = 0
    last_seen_s: float = 0.0


class ZoneRule:
    """``update(t_s, dets)`` -> events, for one configured zone rule.

    Args:
        config: the rule's section of the YAML.
        polygon: the zone's corners in pixels of the frame.
        forget_after_s: frame seconds after which an absent track's state is dropped;
            the tracker's lost buffer, so a track that can come back keeps its side.
    """

    def __init__(self, config: ZoneRuleConfig, polygon: np.ndarray, forget_after_s: float) -> None:
        self.rule_id = config.id
        self.config = config
        self.polygon = np.asarray(polygon, dtype=np.float64)
        self._forget_after_s = forget_after_s
        self._tracks: dict[int, _TrackSide] = {}
        self._cooldown = Cooldown(config.cooldown_s)
        self._last_t_s = 0.0
        self.fired_total = 0
        self.suppressed_total = 0

    def update(self, t_s: float, dets: sv.Detections) -> list[RuleEvent]:
        self._last_t_s = t_s
        events: list[RuleEvent] = []
        if not self.config.enabled:
            return events
        c = self.config
        tracker_ids = dets.tracker_id if dets.tracker_id is not None else np.full(len(dets), -1)
        # Unconfirmed tracks (-1) share no identity: skip them (supervision#2578).
        mask = class_mask(dets, c.classes, c.min_confidence) & (tracker_ids >= 0)
        indices = np.flatnonzero(mask)
        inside = points_in_polygon(anchor_points(dets[indices]), self.polygon)
        for index, is_inside in zip(indices, inside):
            track_id = int(tracker_ids[index])
            state = self._tracks.setdefault(track_id, _TrackSide())
            state.last_seen_s = t_s
            side = bool(is_inside)
            if state.candidate == side:
                state.streak += 1
            else:
                state.candidate, state.streak = side, 1
            if state.streak < c.min_frames or state.side == side:
                continue
            previous, state.side = state.side, side
            entered = side and c.trigger == "enter"
            exited = (not side) and previous is True and c.trigger == "exit"
            if entered or exited:
                event = self._fire(t_s, dets[int(index) : int(index) + 1], track_id)
                if event is not None:
                    events.append(event)
        self._forget(t_s)
        return events

    def _fire(self, t_s: float, det: sv.Detections, track_id: int) -> RuleEvent | None:
        c = self.config
        key = track_id if c.cooldown_scope == "track" else None
        if not self._cooldown.ready(key, t_s):
            self.suppressed_total += 1
            return None
        self._cooldown.fire(key, t_s)
        self.fired_total += 1
        names = det.data.get("class_name")
        class_name = str(names[0]) if names is not None and len(names) else "object"
        verb = "entered" if c.trigger == "enter" else "left"
        return RuleEvent(
            rule_id=c.id,
            t_s=t_s,
            spec=c.event,
            detections=det,
            reason=f"{class_name} #{track_id} {verb} {c.zone}",
            zone_id=c.zone,
            track_id=track_id,
            class_name=class_name,
        )

    def _forget(self, t_s: float) -> None:
        stale = [tid for tid, s in self._tracks.items() if t_s - s.last_seen_s > self._forget_after_s]
        for track_id in stale:
            del self._tracks[track_id]
            self._cooldown.forget(track_id, t_s)

    def state(self) -> dict[str, object]:
        return {
            "type": "zone",
            "zone": self.config.zone,
            "inside": sum(1 for s in self._tracks.values() if s.side is True),
            "fired_total": self.fired_total,
            "suppressed_total": self.suppressed_total,
            "cooldowns_s": self._cooldown.remaining(self._last_t_s),
        }
