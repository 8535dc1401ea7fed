"""Source kinds besides RTSP: HTTP MJPEG (a stdlib server), USB devices that are absent,
files that loop, and `resize` before inference."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from support import make_video, require_program, run_cli, wait_for, write_config, write_replay
from support.mjpeg_server import MjpegServer
from support.rtsp import FAST, Reader

from streamer.config.models import CameraConfig
from streamer.source import Capture

pytestmark = [pytest.mark.integration, pytest.mark.system]


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_http_mjpeg_camera_reads_drops_and_comes_back(stop: threading.Event) -> None:
    ThreadingHTTPServer.allow_reuse_address = True
    server = MjpegServer().start()
    url = f"http://admin:s3cretpw@127.0.0.1:{server.port}/video.mjpg"
    capture = Capture(CameraConfig(source=url, **FAST), stop)
    capture.start()
    reader = Reader(capture, stop)
    try:
        wait_for(lambda: reader.frames > 10, 15)
        assert (capture.width, capture.height) == (160, 120)
        assert capture.health()["source"] == f"http://***@127.0.0.1:{server.port}/video.mjpg"
        server.stop()
        wait_for(lambda: capture.health()["state"] in ("offline", "stalled"), FAST["stall_timeout_s"] + 2)
        frames = reader.frames
        server = MjpegServer(server.port).start()
        wait_for(lambda: reader.frames > frames + 10, 12)
        assert capture.health()["state"] == "live"
        assert "s3cretpw" not in str(capture.health())
    finally:
        server.stop()


def test_absent_usb_camera_says_so(tmp_path: Path) -> None:
    replay = write_replay(tmp_path / "dets.jsonl", {})
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"source": "/dev/video63"},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    })
    result = run_cli("run", str(config), "--duration", "2", timeout=60)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: camera.source: no frame from /dev/video63 in 2 s: "
        "USB camera 63 (/dev/video63): no such device (unplugged or absent)"
    ], result.stderr
    assert "Traceback" not in result.stderr


def test_file_loops_with_continuous_frame_time(tmp_path: Path, stop: threading.Event) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=20, fps=10)
    capture = Capture(CameraConfig(source=str(video), loop=True, resize=(320, 180)), stop)
    capture.start()
    frames = []
    while len(frames) < 50:
        frame = capture.read(2.0)
        assert frame is not None
        frames.append(frame)
    assert [f.index for f in frames] == list(range(50))
    assert frames[45].t_s == pytest.approx(4.5)
    # `resize` happens before anything downstream sees the frame.
    assert {(f.width, f.height) for f in frames} == {(320, 180)}
    assert (capture.width, capture.height) == (320, 180)
    # The picture really starts over: frame 20 is frame 0 again.
    assert np.abs(frames[20].image.astype(int) - frames[0].image.astype(int)).mean() < 2


def test_hls_playlist_is_read_and_reopened_when_it_ends(tmp_path: Path, stop: threading.Event) -> None:
    import functools
    import subprocess
    from http.server import SimpleHTTPRequestHandler

    ffmpeg = require_program("ffmpeg", "ffmpeg")
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
         "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-f", "hls",
         "-hls_time", "1", "-hls_list_size", "0", str(tmp_path / "cam.m3u8")],
        check=True, timeout=60,
    )

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        capture = Capture(CameraConfig(source=f"http://127.0.0.1:{server.server_address[1]}/cam.m3u8",
                                       **FAST), stop)
        capture.start()
        reader = Reader(capture, stop)
        wait_for(lambda: reader.frames > 0, 10)
        assert (capture.width, capture.height) == (160, 120)
        # A finished (VOD) playlist ends like a camera that went away: reopened, not fatal.
        wait_for(lambda: capture.health()["reconnects_total"] >= 1, 10)
    finally:
        server.shutdown()
        server.server_close()
