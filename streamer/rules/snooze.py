"""Snoozed rules as a pure filter of rule events by the frame's wall time (issue 16).

The frame's wall time, never the clock: for a file that is the run's start plus video
time, as the event timestamp is, so a snooze ends where the events it hides would have
been stamped. The book holds ``rule_id -> until`` and is swapped whole (one reference
assignment), so the monitor's threads may change it while the frame loop reads it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from streamer.rules.base import RuleEvent
from streamer.rules.schedule import WEEKDAYS, minutes_of
from streamer.schema import ScheduleConfig


class SnoozeBook:
    """Which rules are silenced until when (epoch seconds of frame time)."""

    def __init__(self, until: Mapping[str, float] | None = None) -> None:
        self._until: dict[str, float] = dict(until or {})
        # Events each rule fired while snoozed: never dropped silently (docs/architecture.md, rule 2).
        # Written by the frame loop only.
        self.hidden: Counter[str] = Counter()

    def replace(self, until: Mapping[str, float]) -> None:
        self._until = dict(until)

    def set(self, rule_id: str, until_ts: float) -> None:
        self._until = {**self._until, rule_id: until_ts}

    def wake(self, rule_id: str) -> None:
        self._until = {key: value for key, value in self._until.items() if key != rule_id}

    def snoozed(self, rule_id: str, wall_ts: float | None) -> bool:
        until = self._until.get(rule_id)
        return until is not None and wall_ts is not None and wall_ts < until

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
