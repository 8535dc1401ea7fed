"""Open a source with OpenCV, with the timeouts and checks OpenCV leaves out.

docs/architecture.md, "Measured": without ``CAP_PROP_OPEN_TIMEOUT_MSEC``/``CAP_PROP_READ_TIMEOUT_MSEC`` a dead
camera blocks each call for 30 s, and a server that never sends media "opens" with a
0x0 size, so an open only counts once a first frame has really been decoded.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

import cv2
import numpy as np

from streamer.errors import SourceError
from streamer.redact import redact
from streamer.schema.sections import CameraConfig
from streamer.source.packets import PacketSink, PacketStream, open_packet_stream

SourceKind = Literal["file", "rtsp", "http", "usb"]

# OPENCV_FFMPEG_CAPTURE_OPTIONS is process-wide and read at open time.
_ENV_LOCK = threading.Lock()


# URL schemes a camera source may use; anything else with `://` is a typo (`rtps://`).
URL_SCHEMES: dict[str, SourceKind] = {
    "rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http",
}


def source_problem(source: Union[int, str]) -> str | None:
    """Why ``source`` can never open, judged without opening it, or None: it must be a
    device index, an existing file or device, or a URL of a scheme in ``URL_SCHEMES``."""
    if isinstance(source, int) or source.strip().isdigit():
        return None
    if source.startswith("/dev/video") and source[len("/dev/video"):].isdigit():
        return None  # a USB camera may be plugged in later: the capture waits for it
    scheme, separator, _ = source.partition("://")
    if separator:
        if scheme.lower() in URL_SCHEMES:
            return None
        known = ", ".join(f"{name}://" for name in URL_SCHEMES)
        return f"unknown URL scheme {scheme + '://'!r} (a camera URL starts with {known})"
    path = Path(source)
    if not path.exists():
        return f"no such file or device: {source} (a camera is a device index, a file or " \
            f"an rtsp:// or http(s):// URL)"
    if path.is_dir():
        return f"{source} is a folder, not a video file"
    return None


def classify(source: Union[int, str]) -> SourceKind:
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        return "usb"
    if source.startswith("/dev/video"):
        return "usb"
    lowered = source.lower()
    if lowered.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lowered.startswith(("http://", "https://")):
        return "http"
    return "file"


@dataclass
class OpenedStream:
    """An open ``cv2.VideoCapture`` whose first frame is already decoded and held back."""

    capture: cv2.VideoCapture
    fps: float
    width: int
    height: int
    frame_count: int | None
    _pending: list[np.ndarray] = field(default_factory=list)
    # OpenCV gives no stream times: frames read this way get no clip of packets.
    last_stream_ts: float | None = None
    epoch: int = 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._pending:
            return True, self._pending.pop()
        ok, image = self.capture.read()
        return bool(ok), image if ok else None

    def release(self) -> None:
        self.capture.release()


def _video_file(source: Union[int, str]) -> Path:
    """The path of a video file source; :class:`SourceError` if it is not a readable file."""
    path = Path(str(source)).expanduser()
    if not path.exists():
        raise SourceError(f"camera.source: no such video file: {path}")
    if not path.is_file():
        raise SourceError(f"camera.source: {path} is not a file")
    return path


def open_stream(
    config: CameraConfig, kind: SourceKind, on_packet: PacketSink | None = None, epoch: int = 0
) -> OpenedStream | PacketStream:
    """Open ``config.source``; raise :class:`SourceError` with one line saying why not.

    With ``on_packet`` (clips are on) a file or RTSP camera is read packet by packet with
    PyAV, which hands each compressed packet on; USB and HTTP cameras stay with OpenCV.
    """
    path = _video_file(config.source) if kind == "file" else None
    if on_packet is not None and kind in ("file", "rtsp"):
        return open_packet_stream(config, path, on_packet, epoch)
    source = config.source
    shown = redact(source)
    if path is not None:
        capture = cv2.VideoCapture(str(path))
        what = f"video file {path}"
    elif kind == "usb":
        device = str(source).strip()
        index = int(device[len("/dev/video"):] if device.startswith("/dev/video") else device)
        node = Path(f"/dev/video{index}")
        what = f"USB camera {index} ({node})"
        if not node.exists():
            raise SourceError(f"camera.source: {what}: no such device (unplugged or absent)")
        if not os.access(node, os.R_OK | os.W_OK):
            raise SourceError(f"camera.source: {what}: permission denied (add the user to group video)")
        capture = cv2.VideoCapture(index)
    else:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(config.read_timeout_s * 1000),
        ]
        with _ENV_LOCK:
            previous = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
            if kind == "rtsp":
                # Unset means TCP; set without rtsp_transport means UDP (docs/architecture.md, "Measured"): be explicit.
                os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = (
                    f"rtsp_transport;{config.rtsp_transport}"
                )
            try:
                capture = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG, params)
            finally:
                if kind == "rtsp":
                    if previous is None:
                        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
                    else:
                        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = previous
        what = f"stream {shown}"

    if not capture.isOpened():
        capture.release()
        hint = {
            "file": "not a video OpenCV can decode",
            "usb": "busy (another program holds it) or not a capture device",
        }.get(kind, "unreachable, refused or not a video stream")
        raise SourceError(f"camera.source: cannot open {what}: {hint}")

    ok, first = capture.read()
    if not ok or first is None or first.size == 0:
        capture.release()
        raise SourceError(f"camera.source: {what} opened but gave no frame")

    fps = capture.get(cv2.CAP_PROP_FPS)
    if not fps or math.isnan(fps) or fps <= 0 or fps > 1000:
        fps = 25.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if kind == "file" else 0
    return OpenedStream(
        capture=capture,
        fps=float(fps),
        width=int(first.shape[1]),
        height=int(first.shape[0]),
        frame_count=count if count > 0 else None,
        _pending=[first],
    )
