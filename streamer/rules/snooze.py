"""Snoozed rules as a pure filter of rule events by the frame's wall time (issue 16).

The frame's wall time, never the clock: for a file that is the run's start plus video
time, as the event timestamp is, so a snooze ends where the events it hides would have
been stamped. The book holds ``rule_id -> until`` and is swapped whole (one reference
assignment), so the monitor's threads may change it while the frame loop reads it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from streamer.rules.base import RuleEvent
from streamer.rules.schedule import WEEKDAYS, minutes_of
from streamer.schema.rule_parts import ScheduleConfig


class SnoozeBook:
    """Which rules are silenced until when (epoch seconds of frame time).

    With a ``clock`` (the monitor passes ``time.monotonic``) each snooze also ends once
    its length has passed on that clock, whatever the wall clock says: a wall clock set
    back an hour after "snooze 15 min" made it last 75 (issue 28). Without one (tests,
    replays) the book stays a pure function of frame time.
    """

    def __init__(self, until: Mapping[str, float] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        # rule_id -> (until, in frame wall time; end on `clock`, or None)
        self._until: dict[str, tuple[float, float | None]] = {
            rule: (ts, None) for rule, ts in (until or {}).items()
        }
        # Events each rule fired while snoozed: never dropped silently (docs/architecture.md, rule 2).
        # Written by the frame loop only.
        self.hidden: Counter[str] = Counter()

    def _end(self, length_s: float | None) -> float | None:
        if self._clock is None or length_s is None:
            return None
        return self._clock() + max(0.0, length_s)

    def replace(self, until: Mapping[str, float], length_s: Mapping[str, float] | None = None) -> None:
        """All snoozes at once; ``length_s``: how long each has left (on the clock)."""
        lengths = length_s or {}
        self._until = {rule: (ts, self._end(lengths.get(rule))) for rule, ts in until.items()}

    def set(self, rule_id: str, until_ts: float, length_s: float | None = None) -> None:
        """Snooze ``rule_id`` until ``until_ts`` (frame time) and for at most ``length_s``."""
        self._until = {**self._until, rule_id: (until_ts, self._end(length_s))}

    def wake(self, rule_id: str) -> None:
        self._until = {key: value for key, value in self._until.items() if key != rule_id}

    def snoozed(self, rule_id: str, wall_ts: float | None) -> bool:
        entry = self._until.get(rule_id)
        if entry is None or wall_ts is None:
            return False
        until, end = entry
        if end is not None and self._clock is not None and self._clock() >= end:
            return False
        return wall_ts < until

    def filter(self, events: Iterable[RuleEvent], wall_ts: float | None) -> list[RuleEvent]:
        """The events whose rule is not snoozed at ``wall_ts``."""
        until = self._until
        if not until:
            return list(events)
        kept = []
        for event in events:
            if self.snoozed(event.rule_id, wall_ts):
                self.hidden[event.rule_id] += 1
            else:
                kept.append(event)
        return kept


def shift_end(schedule: ScheduleConfig | None, wall_ts: float) -> float | None:
    """When the schedule window holding ``wall_ts`` ends (the end of the shift), or None
    when the rule has no schedule or is outside its windows."""
    if schedule is None:
        return None
    local = datetime.fromtimestamp(wall_ts, tz=ZoneInfo(schedule.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = local.hour * 60 + local.minute
    days = {WEEKDAYS.index(day) for day in (schedule.weekdays or WEEKDAYS)}
    weekday = local.weekday()
    ends: list[datetime] = []
    for window in schedule.hours or ["00:00-24:00"]:
        first, _, last = window.partition("-")
        start, end = minutes_of(first), minutes_of(last)
        if start < end and weekday in days and start <= minute < end:
            ends.append(midnight + timedelta(minutes=end))
        elif start > end:
            if weekday in days and minute >= start:
                ends.append(midnight + timedelta(days=1, minutes=end))
            elif (weekday - 1) % 7 in days and minute < end:
                ends.append(midnight + timedelta(minutes=end))
    return max(ends).timestamp() if ends else None
