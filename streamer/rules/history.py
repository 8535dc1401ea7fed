"""What the rules saw lately, and what changed rules would have fired on it (issue 26).

The frame loop appends each frame's tracked detections and the alerts it fired to a
:class:`RuleHistory` (bounded by frame time and by count; an append is O(1) and holds a
lock only to link one item). The places editor replays that record through fresh copies
of the changed rules on a monitor thread: rules are pure functions of frame time and
detections, so the replay gives exactly what those rules would have fired, without
touching the running rules or the frame loop.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import supervision as sv

from streamer.rules.base import Rule, RuleEvent

# Five minutes of frame time; at most this many frames whatever the rate (30 fps for 5 min).
KEEP_S = 300.0
MAX_FRAMES = 9000


@dataclass(frozen=True)
class Fired:
    """One alert, as the editor lists it."""

    rule_id: str
    t_s: float
    wall_ts: float | None
    description: str
    track_id: int | None = None

    @classmethod
    def of(cls, event: RuleEvent, wall_ts: float | None) -> Fired:
        return cls(event.rule_id, event.t_s, wall_ts, event.describe(), event.track_id)


@dataclass(frozen=True)
class SeenFrame:
    """One frame as the rules saw it: frame time, capture time, the tracked detections
    (never changed after the frame loop is done with them) and the alerts fired."""

    t_s: float
    wall_ts: float | None
    detections: sv.Detections
    fired: tuple[Fired, ...]


class RuleHistory:
    """The last ``keep_s`` seconds of frame time (at most ``max_frames`` frames).

    Written by the frame loop only (:meth:`add`); read by any thread (:meth:`frames`).
    """

    def __init__(self, keep_s: float = KEEP_S, max_frames: int = MAX_FRAMES) -> None:
        self.keep_s = keep_s
        self._frames: deque[SeenFrame] = deque(maxlen=max_frames)
        self._lock = threading.Lock()

    def add(self, t_s: float, wall_ts: float | None, detections: sv.Detections, fired: Sequence[RuleEvent]) -> None:
        seen = SeenFrame(t_s, wall_ts, detections, tuple(Fired.of(event, wall_ts) for event in fired))
        with self._lock:
            frames = self._frames
            if frames and t_s < frames[-1].t_s:
                frames.clear()  # time went back: a file source started over, a new run of frames
            frames.append(seen)
            while frames and t_s - frames[0].t_s > self.keep_s:
                frames.popleft()

    def frames(self) -> list[SeenFrame]:
        """A copy of the record, oldest first."""
        with self._lock:
            return list(self._frames)


def replay(rules: Iterable[Rule], frames: Sequence[SeenFrame]) -> list[Fired]:
    """Run fresh ``rules`` over ``frames`` in order; what they fire, in frame order.

    The rules must be new instances (their state starts empty): the running ones are
    never passed here.
    """
    rules = list(rules)
    out: list[Fired] = []
    for frame in frames:
        for rule in rules:
            out += [Fired.of(event, frame.wall_ts) for event in rule.update(frame.t_s, frame.detections, frame.wall_ts)]
    return out


def fired_by(frames: Sequence[SeenFrame], rule_ids: Iterable[str]) -> list[Fired]:
    """The alerts the running rules ``rule_ids`` actually fired over ``frames``."""
    wanted = set(rule_ids)
    return [fired for frame in frames for fired in frame.fired if fired.rule_id in wanted]
