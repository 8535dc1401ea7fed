"""What every rule type does the same way: enabled, schedule, cooldown scope, counters."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

import numpy as np
import supervision as sv

from streamer.detect.base import pick
from streamer.rules.base import FrameView, Rule, RuleEvent, class_mask, first_class, tracker_ids
from streamer.rules.cooldown import Cooldown
from streamer.rules.geometry import edge_distances, polygon_edge_arrays
from streamer.rules.schedule import Schedule


class RuleCore(Rule):
    """Base of the rule classes; subclasses implement ``_step`` and ``_reset``.

    Outside its schedule a rule keeps no state: it starts fresh when its window opens, so
    a person already in the lane when the shift starts counts as an enter at that moment.
    Cooldowns survive the gap (one incident, one alert).
    """

    kind = "rule"
    # The rule type's own config: a RuleBase that also has ``cooldown_scope``.
    config: Any

    def __init__(self, config: Any, forget_after_s: float) -> None:
        self.rule_id: str = config.id
        self.config = config
        self._forget_after_s = forget_after_s
        self._cooldown = Cooldown(config.cooldown_s)
        self._schedule = Schedule(config.schedule)
        self._active = True
        self._last_t_s = 0.0
        self._previous_t_s = float("-inf")  # the frame before this one (continuity.lost)
        self._last_forget_s = float("-inf")
        self.fired_total = 0
        self.suppressed_total = 0

    def update(self, t_s: float, dets: Any, wall_ts: float | None = None) -> list[Any]:
        self._previous_t_s, self._last_t_s = self._last_t_s, t_s
        active = self.config.enabled and self._schedule.active(wall_ts)
        if not active:
            if self._active:
                self._reset()
            self._active = False
            return []
        self._active = True
        return self._step(t_s, dets)

    def _forget_due(self, t_s: float) -> bool:
        """Absent tracks are swept once a second of frame time, not every frame."""
        if t_s - self._last_forget_s < 1.0:
            return False
        self._last_forget_s = t_s
        return True

    def _step(self, t_s: float, dets: Any) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _followed(self, dets: sv.Detections) -> tuple[np.ndarray, np.ndarray]:
        """Indices and track ids of the confirmed tracks of this rule's classes.

        Unconfirmed tracks (-1) share no identity, so they are skipped (supervision#2578).
        """
        ids = tracker_ids(dets)
        c = self.config
        indices = np.flatnonzero(class_mask(dets, c.classes, c.min_confidence) & (ids >= 0))
        return indices, ids[indices]

    def _track_event(
        self,
        t_s: float,
        dets: sv.Detections,
        index: int,
        track_id: int,
        place: str,
        what: str,
        extra: dict[str, str] | None = None,
    ) -> RuleEvent:
        """The event about one tracked object: ``"<class> #<id> <what>"`` at ``place``."""
        det = pick(dets, slice(index, index + 1))
        class_name = first_class(det)
        return RuleEvent(
            rule_id=self.rule_id,
            t_s=t_s,
            spec=self.config.event,
            detections=det,
            reason=f"{class_name} #{track_id} {what}",
            zone_id=place,
            track_id=track_id,
            class_name=class_name,
            extra=extra or {},
        )

    def _cooldown_key(self, track_id: int | None, place: str | None) -> Hashable:
        scope = self.config.cooldown_scope
        if scope == "track" and track_id is not None:
            return track_id
        if scope == "zone" and place is not None:
            return f"zone:{place}"
        return None

    def _try_fire(self, track_id: int | None, place: str | None, t_s: float) -> bool:
        """Whether a qualifying firing passes the cooldown (and starts it if so)."""
        key = self._cooldown_key(track_id, place)
        if not self._cooldown.ready(key, t_s):
            self.suppressed_total += 1
            return False
        self._cooldown.fire(key, t_s)
        self.fired_total += 1
        return True

    def _base_state(self) -> dict[str, object]:
        return {
            "type": self.kind,
            "active": self._active,
            "fired_total": self.fired_total,
            "suppressed_total": self.suppressed_total,
            "cooldowns_s": self._cooldown.remaining(self._last_t_s),
        }


S = TypeVar("S")


class TrackedRule(RuleCore, Generic[S]):
    """A rule that keeps state per track (zone, line, loiter) in ``_tracks``: cleared when
    its schedule window closes, and a track's entry swept (with its cooldown) once the
    tracker would have forgotten the track, so memory stays bounded on a busy camera."""

    def __init__(self, config: Any, forget_after_s: float) -> None:
        super().__init__(config, forget_after_s)
        self._tracks: dict[int, S] = {}

    def _reset(self) -> None:
        self._tracks.clear()

    def _seen_s(self, state: S) -> float:
        """Frame time the track was last seen where this rule looks."""
        return float(state.last_seen_s)  # type: ignore[attr-defined]  # zone and line states have it; loiter overrides this

    def _sweep(self, t_s: float) -> None:
        if not self._forget_due(t_s):
            return
        stale = [tid for tid, state in self._tracks.items()
                 if t_s - self._seen_s(state) > self._forget_after_s]
        for track_id in stale:
            del self._tracks[track_id]
            self._cooldown.forget(track_id, t_s)


def band_widths(config: Any, heights: np.ndarray | float, floor: float = 0.0) -> np.ndarray | float:
    """The hysteresis band in pixels for boxes of ``heights``: ``band_px``, else
    ``band_ratio`` x the box's height, so a far-away person needs a smaller step than a
    near one, as the detector's jitter is smaller too. Never below ``floor``."""
    if config.band_px is not None:
        return max(float(config.band_px), floor)
    if isinstance(heights, float):
        return max(float(config.band_ratio) * heights, floor)
    return np.maximum(float(config.band_ratio) * heights, floor)


class ZoneBand:
    """A zone's band, for the rules that settle a side of it (zone, count): the polygon's
    edges computed once, and the band capped at a quarter of the zone's smaller extent,
    so a narrow strip can still be entered."""

    def __init__(self, polygon: np.ndarray, anchor: str) -> None:
        self.polygon = np.asarray(polygon, dtype=np.float64)
        extent = self.polygon.max(axis=0) - self.polygon.min(axis=0)
        self._max_band = float(extent.min()) / 4
        self._edges = polygon_edge_arrays(self.polygon)
        self._anchor = anchor
        # Rules on the same zone share the frame's distances to its edges (FrameView.shared).
        self._key = ("edge_distance", anchor, self.polygon.tobytes())

    def inside(self, frame: FrameView) -> np.ndarray:
        """Whether each detection's anchor is in the zone (shared: do not modify)."""
        return frame.inside(self._anchor, self.polygon)

    def past(self, frame: FrameView, config: Any, indices: np.ndarray | int) -> np.ndarray | bool:
        """Whether detections ``indices`` are further from every edge than their band;
        the frame's distances to this zone's edges are computed once, on first need."""
        distances = frame.shared.get(self._key)
        if distances is None:
            points = frame.anchors(self._anchor)
            distances = frame.shared[self._key] = edge_distances(points, self._edges)
        if isinstance(indices, int):  # a zone rule asks one at a time: skip numpy's overhead
            band = band_widths(config, float(frame.heights[indices]))
            return bool(distances[indices] >= min(band, self._max_band))
        bands = np.minimum(band_widths(config, frame.heights[indices]), self._max_band)
        outside: np.ndarray = distances[indices] >= bands
        return outside
