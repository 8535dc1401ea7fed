"""When a rule is active: weekdays and hour windows in a named time zone.

Reads the frame's wall time (never the clock), so a replay with a fixed start time gives
the same answer on every run.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from streamer.schema.rule_parts import ScheduleConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def minutes_of(text: str) -> int:
    hours, minutes = text.strip().split(":")
    return int(hours) * 60 + int(minutes)


class Schedule:
    """``active(wall_ts)``: whether a rule runs at that UTC epoch time.

    A window "22:00-06:00" runs past midnight and belongs to the weekday it starts on,
    so a Friday night shift ends on Saturday morning even when Saturday is not listed.
    """

    def __init__(self, config: ScheduleConfig | None) -> None:
        self._zone = ZoneInfo(config.timezone) if config else None
        days = config.weekdays if config and config.weekdays else list(WEEKDAYS)
        self._days = {WEEKDAYS.index(day) for day in days}
        self._windows: list[tuple[int, int]] = []
        for window in (config.hours if config else None) or ["00:00-24:00"]:
            start, end = window.split("-")
            self._windows.append((minutes_of(start), minutes_of(end)))
        self._always = config is None

    def active(self, wall_ts: float | None) -> bool:
        if self._always or wall_ts is None:
            return True
        local = datetime.fromtimestamp(wall_ts, tz=self._zone)
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        for start, end in self._windows:
            if start < end:
                if weekday in self._days and start <= minute < end:
                    return True
            elif start > end:  # past midnight: today's evening or yesterday's night
                if weekday in self._days and minute >= start:
                    return True
                if (weekday - 1) % 7 in self._days and minute < end:
                    return True
        return False
