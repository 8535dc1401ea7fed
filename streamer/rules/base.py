"""What every rule shares: the event it emits and the protocol it follows.

Rules are pure: ``update(t_s, dets)`` reads only its arguments and its own state, never a
clock, a file or the network, so the same detections always give the same events.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import supervision as sv

from streamer.schema.bases import RuleBase
from streamer.schema.rule_parts import EventSpec


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


@dataclass(frozen=True)
class RuleContext:
    """What a rule's factory needs beyond its own config: the places it names, in pixels
    of this camera's frame, and how long a track may vanish and keep its id."""

    zones: dict[str, np.ndarray]
    lines: dict[str, np.ndarray]
    size: tuple[int, int]
    forget_after_s: float

    def zone(self, zone_id: str | None) -> np.ndarray | None:
        """The zone's polygon; None (the whole frame) for no zone."""
        return self.zones[zone_id] if zone_id is not None else None


class PlaceTally:
    """The numbers the page shows per place, which each rule adds to in list order (see
    :meth:`Rule.tally`): people in a zone, crossings of a line, persons too small to judge."""

    def __init__(self) -> None:
        self.zones: dict[str, int] = {}
        self.lines: dict[str, dict[str, int]] = {}
        self.indeterminate = 0

    def at_least(self, zone: str, inside: int) -> None:
        """``inside`` objects are in ``zone``; several rules on one zone show the most."""
        self.zones[zone] = max(self.zones.get(zone, 0), inside)

    def count(self, place: str, count: int) -> None:
        """A count rule's own number for ``place`` (a zone, or ``frame``)."""
        self.zones[place] = count

    def crossings(self, line: str, into: int, out: int) -> None:
        self.lines[line] = {"in": into, "out": out}

    def undecided(self, persons: int) -> None:
        """Persons too small to judge (PPE): counted, never alerted."""
        self.indeterminate += persons


class Rule(ABC):
    """One configured rule with its own state; called once per frame, in frame order.

    ``t_s`` (frame time) drives every timer; ``wall_ts`` (the frame's UTC capture time,
    epoch seconds) is read only by ``schedule``; ``None`` means no wall clock is known
    and the schedule is not applied (unit tests of timing alone).

    What a rule says about itself: ``state()`` for the monitor (its own timers and counts),
    ``headline()`` for its line on the page, ``tally()`` for the page's per-place numbers,
    ``geometry()`` and ``config`` so a config reload knows whether it may keep the rule's
    running state.
    """

    rule_id: str
    config: RuleBase

    @abstractmethod
    def update(
        self, t_s: float, dets: sv.Detections, wall_ts: float | None = None
    ) -> list[RuleEvent]:
        """The events this frame fires (pure: arguments and own state only)."""

    @abstractmethod
    def state(self) -> dict[str, object]:
        """Live state for the overlay and monitor (counts, timers); JSON-friendly."""

    def tally(self, places: PlaceTally) -> None:  # noqa: B027 (most rules show no per-place number)
        """Add this rule's per-place numbers to the page's. Default: none."""

    def geometry(self) -> tuple[float, ...]:
        """The pixels of the places this rule watches, flat; a reload keeps the rule's state
        only when these and its ``config`` are unchanged. Default: none."""
        return ()

    def headline(self) -> str | None:
        """A few words on the rule's live state for its line on the page ("2 people
        inside"); None: nothing beyond what every rule's line says (alerts, cooldown)."""
        return None


def plural(count: int, one: str, many: str) -> str:
    """``1 person``, ``2 people``."""
    return f"{count} {one if count == 1 else many}"


def duration_words(seconds: float) -> str:
    """``45 s``, ``12 min``, ``1.5 h``: as the page writes a duration."""
    if seconds < 90:
        return f"{math.floor(seconds + 0.5)} s"
    if seconds < 5400:
        return f"{math.floor(seconds / 60 + 0.5)} min"
    return f"{seconds / 3600:.1f} h"


class FrameView:
    """Arrays every rule reads from one frame's detections, computed once and shared.

    Twenty rules over one frame would otherwise each convert class names, recompute
    anchors and rebuild masks (benchmarks/rules.py). Derived data only: the detections
    are never changed.
    """

    def __init__(self, dets: sv.Detections) -> None:
        self.n = len(dets)
        self.xyxy = np.asarray(dets.xyxy, dtype=np.float64).reshape(-1, 4)
        self.heights = self.xyxy[:, 3] - self.xyxy[:, 1]
        names = dets.data.get("class_name")
        self.names = (
            np.asarray(names).astype(str) if names is not None else np.full(self.n, "", dtype=str)
        )
        self.has_names = names is not None
        self.ids = (
            np.full(self.n, -1, dtype=int)
            if dets.tracker_id is None
            else np.asarray(dets.tracker_id, dtype=int)
        )
        self.confidence = (
            np.ones(self.n) if dets.confidence is None else np.asarray(dets.confidence, dtype=float)
        )
        self._anchors: dict[str, np.ndarray] = {}
        self._masks: dict[tuple[tuple[str, ...] | None, float], np.ndarray] = {}
        self._inside: dict[tuple[str, bytes], np.ndarray] = {}
        # Other per-frame results rules may share, keyed by everything they depend on.
        self.shared: dict[tuple[object, ...], Any] = {}

    def inside(self, anchor: str, polygon: np.ndarray) -> np.ndarray:
        """Whether each detection's ``anchor`` is in ``polygon`` (rules on one zone share it)."""
        key = (anchor, polygon.tobytes())
        cached = self._inside.get(key)
        if cached is None:
            from streamer.rules.geometry import points_in_polygon

            cached = self._inside[key] = points_in_polygon(self.anchors(anchor), polygon)
        return cached

    def anchors(self, anchor: str) -> np.ndarray:
        points = self._anchors.get(anchor)
        if points is None:
            from streamer.rules.geometry import ANCHORS

            fx, fy = ANCHORS[anchor]
            x = self.xyxy[:, 0] + fx * (self.xyxy[:, 2] - self.xyxy[:, 0])
            y = self.xyxy[:, 1] + fy * (self.xyxy[:, 3] - self.xyxy[:, 1])
            points = self._anchors[anchor] = np.stack([x, y], axis=1)
        return points

    def mask(self, classes: list[str] | None, min_confidence: float) -> np.ndarray:
        key = (None if classes is None else tuple(classes), min_confidence)
        cached = self._masks.get(key)
        if cached is None:
            cached = self.confidence >= min_confidence
            if classes is not None:
                cached = cached & np.isin(self.names, classes) if self.has_names else cached & False
            self._masks[key] = cached
        return cached.copy()


def view(dets: sv.Detections) -> FrameView:
    """The shared :class:`FrameView` of ``dets`` (cached on the object itself)."""
    cached = dets.__dict__.get("_streamer_view")
    if isinstance(cached, FrameView) and cached.n == len(dets):
        return cached
    fresh = FrameView(dets)
    dets.__dict__["_streamer_view"] = fresh
    return fresh


def class_mask(dets: sv.Detections, classes: list[str] | None, min_confidence: float) -> np.ndarray:
    """Boolean mask of detections a rule follows."""
    return view(dets).mask(classes, min_confidence)


def tracker_ids(dets: sv.Detections) -> np.ndarray:
    """``tracker_id`` as an int array; all ``-1`` (unconfirmed) when the input has none."""
    return view(dets).ids


def class_names(dets: sv.Detections) -> np.ndarray:
    """``data["class_name"]`` as a str array (empty strings when absent)."""
    return view(dets).names


def first_class(det: sv.Detections) -> str:
    names = det.data.get("class_name")
    return str(names[0]) if names is not None and len(names) else "object"
