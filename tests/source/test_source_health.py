"""A source's health state machine, the shared rate meter, and the state list's one home."""

from __future__ import annotations

import time

import pytest

from streamer.config.models import CameraConfig
from streamer.health_state import EVENT_STATES, HealthState
from streamer.monitor.metrics import SOURCE_STATES
from streamer.rate import RateMeter
from streamer.source.source_health import SourceHealth

S = HealthState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_reports_each_down_state_once_and_the_return_says_how_long() -> None:
    clock = Clock()
    health = SourceHealth(clock, started_wall=clock.now)
    health.opening()
    assert health.set(S.LIVE) is not None
    clock.now = 1010.0
    offline = health.set(S.OFFLINE, "refused", last_frame_wall=1009.0)
    assert offline is not None and offline.previous is S.LIVE
    for _ in range(3):  # every failed reopen: offline again, stalled once, no new event
        health.opening()
        health.set(S.STALLED, "hung", last_frame_wall=1009.0)
        health.set(S.OFFLINE, "refused", last_frame_wall=1009.0)
    assert [c.state for c in health.changes()] == [S.LIVE, S.OFFLINE, S.STALLED]
    outage = health.outage()
    assert outage.attempts == 3 and outage.down_since_wall_ts == 1009.0
    clock.now = 1030.0
    back = health.set(S.FROZEN)
    assert back is not None and back.away_s == pytest.approx(21.0) and back.attempts == 3
    assert health.outage().attempts == 0 and health.outage().down_since_wall_ts is None


@pytest.mark.parametrize(
    ("path", "illegal"),
    [((S.LIVE,), S.CONNECTING), ((S.LIVE, S.OFFLINE), S.CONNECTING)],
)
def test_no_state_goes_back_to_connecting(path: tuple[HealthState, ...], illegal: HealthState) -> None:
    health = SourceHealth(Clock(), 0.0)
    for state in path:
        health.set(state)
    with pytest.raises(ValueError, match="cannot go from"):
        health.set(illegal)


def test_nothing_leaves_ended() -> None:
    health = SourceHealth(Clock(), 0.0)
    health.set(S.LIVE)
    health.end(S.ENDED)
    health.end(S.OFFLINE)
    assert health.state is S.ENDED
    with pytest.raises(ValueError):
        health.set(S.LIVE)


def test_config_and_metrics_list_the_states_of_the_enum() -> None:
    assert set(SOURCE_STATES) == {s.value for s in HealthState}
    assert CameraConfig(source="a.mp4", health_events=list(EVENT_STATES)).health_events == list(EVENT_STATES)
    with pytest.raises(ValueError, match="health_events"):
        CameraConfig(source="a.mp4", health_events=["ended"])


def test_the_rate_meter_follows_a_total_and_falls_when_it_stops() -> None:
    meter = RateMeter(window_s=0.3)
    total = 0
    for _ in range(30):
        total += 1
        meter.sample(total)
        time.sleep(0.01)
    assert 20 < meter.rate(total) < 150  # ~100/s, loose for a loaded machine
    time.sleep(0.5)
    meter.rate(total)
    assert meter.rate(total) < 5


def test_a_view_state_shows_where_live_would_once_per_episode_and_live_ends_it() -> None:
    clock = Clock()
    health = SourceHealth(clock, started_wall=clock.now)
    health.set(S.LIVE)
    moved = health.view(S.MOVED, "the view moved 77 px", {"shift_px": 77.0})
    assert moved is not None and moved.state is S.MOVED and moved.figures == {"shift_px": 77.0}
    assert health.set(S.LIVE) is None and health.state is S.MOVED  # every frame says live
    health.view(S.OBSTRUCTED, "covered", {"covered": 1.0})
    health.view(S.MOVED, "the view moved 77 px", {"shift_px": 77.0})  # same episode: no event
    back = health.view(None, "", {"shift_px": 0.4})
    assert back is not None and back.state is S.LIVE and back.previous is S.MOVED
    assert "reference view" in back.reason and back.figures == {"shift_px": 0.4}
    health.view(S.MOVED, "again", {"shift_px": 40.0})  # a new episode
    assert [c.state for c in health.changes()] == [S.LIVE, S.MOVED, S.OBSTRUCTED, S.LIVE, S.MOVED]


def test_frozen_and_outages_keep_the_view_verdict_for_when_the_picture_is_back() -> None:
    clock = Clock()
    health = SourceHealth(clock, started_wall=clock.now)
    health.set(S.LIVE)
    health.set(S.FROZEN, "no change")
    assert health.view(S.BLURRED, "soft") is None and health.state is S.FROZEN
    back = health.set(S.LIVE)
    assert back is not None and back.state is S.BLURRED and back.reason == "soft"
    health.set(S.OFFLINE, "refused", last_frame_wall=clock.now)
    clock.now += 5
    returned = health.set(S.LIVE)
    assert returned is not None and returned.state is S.BLURRED and returned.away_s == pytest.approx(5.0)
    with pytest.raises(ValueError, match="not a view state"):
        health.view(S.OFFLINE)
