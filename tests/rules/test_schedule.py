"""Schedules: weekdays and hours in a time zone, read from the frame's wall time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from support.rule_frames import foot, frame, play, timeline

from streamer.config.models import ScheduleConfig, ZoneRuleConfig
from streamer.rules.schedule import Schedule
from streamer.rules.zone import ZoneRule

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


SHIFT = Schedule(ScheduleConfig(weekdays=["mon", "tue", "wed", "thu", "fri"],
                                hours=["06:00-14:00", "22:00-06:00"], timezone="Europe/Berlin"))


@pytest.mark.parametrize(
    ("moment", "active"),
    [
        ("2026-01-05 05:59:59", False),  # Monday before the early shift; Sunday's night not listed
        ("2026-01-05 06:00:00", True),
        ("2026-01-05 13:59:59", True),
        ("2026-01-05 14:00:00", False),  # end is exclusive
        ("2026-01-05 23:30:00", True),  # Monday night shift
        ("2026-01-06 03:00:00", True),  # ... still Monday's, past midnight
        ("2026-01-10 03:00:00", True),  # Saturday morning: Friday's night shift
        ("2026-01-10 23:00:00", False),  # Saturday night: not listed
        ("2026-01-11 12:00:00", False),  # Sunday
    ],
)
def test_shift_boundaries(moment: str, active: bool) -> None:
    assert SHIFT.active(at(moment)) is active


def test_timezone_and_dst() -> None:
    day = Schedule(ScheduleConfig(hours=["09:00-17:00"], timezone="Europe/Berlin"))
    # 08:30 UTC is 09:30 in Berlin in winter (UTC+1) and 10:30 in summer (UTC+2).
    assert day.active(at("2026-01-05 08:30:00", ZoneInfo("UTC")))
    assert day.active(at("2026-07-06 07:30:00", ZoneInfo("UTC")))
    assert not day.active(at("2026-07-06 06:30:00", ZoneInfo("UTC")))


def test_no_schedule_or_no_wall_clock_means_always() -> None:
    assert Schedule(None).active(at("2026-01-11 12:00:00"))
    assert SHIFT.active(None)


def test_a_zone_rule_fires_only_once_its_window_opens() -> None:
    """A person already in the lane when the shift starts is an intrusion at 06:00:00,
    after min_frames inside frames within the window."""
    config = ZoneRuleConfig(id="lane", type="zone", zone="z", min_frames=3, cooldown_s=0,
                            schedule=ScheduleConfig(hours=["06:00-07:00"], timezone="Europe/Berlin"))
    r = ZoneRule(config, np.array([[0, 0], [400, 0], [400, 300], [0, 300]], float), 3.0)
    frames = [frame(foot(1, 200, 200))] * 30  # 3 s at 10 fps, 05:59:58.5 .. 06:00:01.4
    events = play(r, frames, wall0=at("2026-01-05 05:59:58.5"))
    # Window opens at frame 15 (t=1.5); the third frame inside it is t=1.7.
    assert timeline(events) == [(1.7, 1)]
    assert r.state()["active"] is True
    closed = play(ZoneRule(config, r.polygon, 3.0), frames, wall0=at("2026-01-05 07:00:00"))
    assert closed == []
