"""Start, kill, freeze and restart the real RTSP server (tests/support/rtsp_server.py) from tests."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

from streamer.source import Capture
from support import free_port, require_program

# Short bounds keep the suite fast; the defaults (10 s stall) are the same code path.
FAST = {"open_timeout_s": 2, "read_timeout_s": 1, "stall_timeout_s": 2.5, "frozen_s": 2}

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"  # the venv's Python cannot import gi (docs/architecture.md, "Measured")
RTSP_PACKAGES = ("gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base "
                 "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly")
# What tests/support/rtsp_server.py imports: the server needs these, not just a python3.
RTSP_PROBE = "\n".join([
    "import gi, sys",
    "gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')",
    "from gi.repository import Gst, GstRtspServer",
    "Gst.init(None)",
    "missing = [n for n in ('appsrc', 'h264parse', 'rtph264pay') if not Gst.ElementFactory.find(n)]",
    "sys.exit('no GStreamer element ' + ', '.join(missing) if missing else 0)",
])


def make_clip(path: Path, frozen: bool = False, seconds: int = 4, fps: int = 25,
              size: str = "320x240") -> Path:
    """An H.264 Annex-B clip from Debian's ffmpeg: no B-frames, a keyframe each second,
    an access-unit delimiter per frame (the server splits on it). ``frozen``: one still
    picture, losslessly encoded, so every decoded frame is bit-identical."""
    ffmpeg = require_program("ffmpeg", "ffmpeg")
    source = f"smptebars=size={size}:rate={fps}" if frozen else f"testsrc2=size={size}:rate={fps}"
    quality = ["-qp", "0"] if frozen else ["-preset", "ultrafast"]
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-t", str(seconds),
         "-c:v", "libx264", *quality, "-bf", "0", "-g", str(fps), "-pix_fmt", "yuv420p",
         "-x264-params", "aud=1", "-f", "h264", str(path)],
        check=True, timeout=60,
    )
    return path


class RtspServer:
    """One server process on a fixed loopback port, restartable on that same port."""

    def __init__(self, clip: Path | None, mode: str = "serve", fps: int = 25, port: int | None = None) -> None:
        self.clip = clip
        self.mode = mode
        self.fps = fps
        self.port = port or free_port()
        self.process: subprocess.Popen[str] | None = None

    def url(self, credentials: str = "") -> str:
        auth = f"{credentials}@" if credentials else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/stream1"

    def start(self, timeout: float = 15.0) -> RtspServer:
        python = require_program(SYSTEM_PYTHON, RTSP_PACKAGES, "-c", RTSP_PROBE)
        args = [python, str(HERE / "rtsp_server.py"), "--port", str(self.port),
                "--mode", self.mode, "--fps", str(self.fps)]
        if self.clip is not None:
            args += ["--clip", str(self.clip)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            self.kill()
            raise RuntimeError(f"RTSP server did not start: {line!r}")
        return self

    def kill(self) -> None:
        """SIGKILL: on loopback the socket closes cleanly, like a camera rebooting."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: sockets stay open and go silent, like a power cut or a hung camera."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

class Reader:
    """Drains the capture like the frame loop does and records what it saw."""

    def __init__(self, capture: Capture, stop: threading.Event) -> None:
        self.capture = capture
        self.frames = 0
        self.states: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(stop,), daemon=True)
        self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                frame = self.capture.read(0.2)
            except EOFError:
                return
            self.states += [change.state for change in self.capture.health_changes()]
            if frame is not None:
                self.frames += 1
