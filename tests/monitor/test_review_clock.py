"""Snoozes measured as lengths of time (issue 28): a wall clock set back after a snooze
was set cannot stretch it, before or after a restart."""

from __future__ import annotations

from pathlib import Path

from streamer.events.store import Store
from streamer.monitor.review import ReviewDesk

HOUR_S = 3600.0


def desk_on(store: Store, wall: list[float], mono: list[float]) -> ReviewDesk:
    return ReviewDesk(store=store, sinks=["s"], device_id="edge-box-07", stream_id="dock-3",
                      frame_now=lambda: wall[0], schedules=lambda: {"lane": None}, clock=lambda: mono[0])


def test_a_clock_set_back_cannot_stretch_a_snooze(tmp_path: Path) -> None:
    store = Store(tmp_path / "outbox.db")
    wall, mono = [1_800_000_000.0], [5_000.0]
    desk = desk_on(store, wall, mono)
    desk.snooze("lane", "1h", "ann")
    assert desk.book.snoozed("lane", wall[0] + 60)
    # Ten minutes later the wall clock is set back 8 hours (NTP after a dead RTC battery).
    mono[0] += 600
    wall[0] += 600 - 8 * HOUR_S
    assert desk.book.snoozed("lane", wall[0])  # still within its hour
    mono[0] += 50 * HOUR_S / 60
    wall[0] += 50 * HOUR_S / 60
    assert not desk.book.snoozed("lane", wall[0]), "the hour is over, whatever the wall clock says"

    # A restart while the clock is still 8 hours behind: what is left of the hour, no more.
    fresh, fresh_mono = [1_800_000_000.0 + 600 - 8 * HOUR_S], [10.0]
    desk.snooze("lane", "1h", "ann")  # set again (wall time now behind)
    restarted = desk_on(store, fresh, fresh_mono)
    assert restarted.book.snoozed("lane", fresh[0])
    fresh_mono[0] += HOUR_S
    assert not restarted.book.snoozed("lane", fresh[0] + 1)
    store.close()
