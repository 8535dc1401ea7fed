"""Capture against a real RTSP server (Debian's GStreamer RTSP server, tests/support/rtsp_server.py):
killed, frozen with SIGSTOP, silent, showing a frozen picture, absent at start."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import wait_for
from support.rtsp import FAST, Reader, RtspServer

from streamer.config.models import CameraConfig
from streamer.source import Capture

pytestmark = [pytest.mark.integration, pytest.mark.system]



@pytest.fixture
def server(clip: Path) -> Iterator[RtspServer]:
    srv = RtspServer(clip).start()
    yield srv
    srv.kill()


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()






def start_capture(source: str, stop: threading.Event, packets: bool = False,
                  **overrides: object) -> tuple[Capture, Reader]:
    """``packets``: read as with clips on (PyAV, each packet handed on) instead of OpenCV."""
    on_packet = (lambda packet: None) if packets else None
    capture = Capture(CameraConfig(source=source, **{**FAST, **overrides}), stop, on_packet=on_packet)
    capture.start()
    return capture, Reader(capture, stop)


def test_live_stream_reports_health(server: RtspServer, stop: threading.Event) -> None:
    capture, reader = start_capture(server.url("viewer:hunter2pw"), stop)
    wait_for(lambda: reader.frames > 60, 15)
    health = capture.health()
    assert health["state"] == "live"
    assert (capture.width, capture.height) == (320, 240)
    # The stream runs at 25 fps after the opening burst (docs/architecture.md, "Measured").
    wait_for(lambda: 20 <= capture.health()["fps"] <= 32, 5)
    assert health["source"] == f"rtsp://***@127.0.0.1:{server.port}/stream1"
    assert "hunter2pw" not in str(health)
    assert health["last_frame_age_s"] < 1
    assert health["reconnects_total"] == 0
    assert reader.states == ["live"]


# Both ways a camera is read: OpenCV, and packet by packet (PyAV) when clips are on.
both_readers = pytest.mark.parametrize("packets", [False, True], ids=["opencv", "packets-for-clips"])


@both_readers
def test_server_killed_goes_offline_then_frames_return(server: RtspServer, stop: threading.Event,
                                                       packets: bool) -> None:
    capture, reader = start_capture(server.url(), stop, packets)
    wait_for(lambda: reader.frames > 10, 15)
    server.kill()
    wait_for(lambda: capture.health()["state"] == "offline", FAST["stall_timeout_s"], "offline")
    frames_when_down = reader.frames
    time.sleep(1.5)
    server.start()
    # Backoff 1 s, 2 s, then 3 s (jittered shorter) plus an RTSP open: back well within 10 s.
    wait_for(lambda: reader.frames > frames_when_down + 10, 10)
    wait_for(lambda: "live" in reader.states[reader.states.index("offline"):], 2)
    health = capture.health()
    assert health["state"] == "live"
    assert health["reconnects_total"] >= 1
    assert reader.states[:3] == ["live", "offline", "live"]


@both_readers
def test_hung_server_is_detected_and_reopened(
    server: RtspServer, stop: threading.Event, packets: bool
) -> None:
    """SIGSTOP keeps the socket open and silent, like a camera losing power (docs/architecture.md, "Measured")."""
    capture, reader = start_capture(server.url(), stop, packets)
    wait_for(lambda: reader.frames > 10, 15)
    server.pause()
    try:
        wait_for(lambda: capture.health()["state"] in ("stalled", "offline"), FAST["stall_timeout_s"] + 3)
        wait_for(lambda: capture.health()["reconnects_total"] >= 1, 10)
        frames_when_hung = reader.frames
    finally:
        server.resume()
    wait_for(lambda: reader.frames > frames_when_hung + 10, 20)
    assert capture.health()["state"] == "live"


def test_server_that_never_sends_media_is_reopened(stop: threading.Event) -> None:
    silent = RtspServer(None, mode="silent").start()
    try:
        capture, reader = start_capture(silent.url(), stop)
        wait_for(lambda: capture.health()["reconnects_total"] >= 1, 15)
        health = capture.health()
        assert health["state"] == "offline"
        assert "gave no frame" in health["last_error"]
        assert reader.frames == 0 and not capture.ready.is_set()
        wait_for(lambda: reader.states == ["offline"], 2)
    finally:
        silent.kill()


def test_frozen_picture_is_reported(frozen_clip: Path, stop: threading.Event) -> None:
    srv = RtspServer(frozen_clip).start()
    try:
        capture, reader = start_capture(srv.url(), stop)
        wait_for(lambda: capture.health()["state"] == "frozen", 10)
        # The reader thread collects health changes on its own beat: give it a moment.
        wait_for(lambda: reader.states == ["live", "frozen"], 2)
        # Frames still flow: a frozen camera is connected, not offline.
        frames = reader.frames
        wait_for(lambda: reader.frames > frames + 5, 3)
    finally:
        srv.kill()


def test_started_before_the_server_begins_when_it_comes_up(clip: Path, stop: threading.Event) -> None:
    srv = RtspServer(clip)
    capture, reader = start_capture(srv.url(), stop)
    wait_for(lambda: capture.health()["state"] == "offline", 3)
    assert "cannot open stream" in capture.health()["last_error"]
    srv.start()
    try:
        wait_for(lambda: reader.frames > 10, 12)
        assert capture.ready.is_set() and capture.health()["state"] == "live"
        assert reader.states[:2] == ["offline", "live"]
    finally:
        srv.kill()


def test_a_read_that_hangs_is_abandoned_not_awaited(server: RtspServer, stop: threading.Event) -> None:
    """With a read timeout far above the stall bound, a hung camera leaves a read blocked
    inside OpenCV: the watchdog must give up on that thread and carry on without it, and
    the old thread must never hand over a frame once it wakes up."""
    capture, reader = start_capture(server.url(), stop, read_timeout_s=30)
    wait_for(lambda: reader.frames > 10, 15)
    first_reader = next(t for t in threading.enumerate() if t.name.startswith("capture-reader-"))
    server.pause()
    try:
        # Stalled after the stall bound, while the first reader is still stuck in read().
        wait_for(lambda: capture.health()["state"] == "stalled", FAST["stall_timeout_s"] + 1.5)
        assert first_reader.is_alive()
        assert capture.stats.readers_abandoned_total == 1
        wait_for(lambda: capture.health()["reconnects_total"] >= 1, 5)
    finally:
        server.resume()
    # The old session streams again after SIGCONT; its reader wakes, sees it was abandoned
    # and leaves; the frames flowing now come from a new connection.
    wait_for(lambda: not first_reader.is_alive(), 15)
    assert capture.stats.frames_discarded_total <= 1
    frames = reader.frames
    wait_for(lambda: reader.frames > frames + 10, 20)
    assert capture.health()["state"] == "live"


@both_readers
def test_a_stopped_camera_leaves_no_reader_inside_the_decoder(
    server: RtspServer, stop: threading.Event, packets: bool
) -> None:
    """Stopping waits (up to the read timeout) for the reader to come back from its read
    and release the stream: a process that exits while a reader is inside FFmpeg aborts
    ("terminate called without an active exception", exit 134), which systemd reads as a
    crash of a box that was only told to stop."""
    before = set(threading.enumerate())  # readers other tests abandoned are not ours
    capture, reader = start_capture(server.url(), stop, packets=packets)
    wait_for(lambda: reader.frames > 10, 15)
    ours = [t for t in set(threading.enumerate()) - before if t.name.startswith("capture-reader-")]
    assert ours
    server.pause()  # the reader now waits in its read, up to read_timeout_s (1 s)
    try:
        time.sleep(0.3)
        stop.set()
        assert capture.join(10.0)
        assert not [t for t in ours if t.is_alive()]
    finally:
        server.resume()
