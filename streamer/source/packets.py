"""Read a file or RTSP camera packet by packet with PyAV, for event clips (issue 17).

OpenCV hands over decoded pictures only. A clip that copies the camera's own H.264 needs
the compressed packets too, as a network video recorder keeps them: here each packet is
handed to ``on_packet`` (the clip recorder's ring, no copy) before it is decoded for the
frame loop. Decoding costs what OpenCV's does: FFmpeg decodes, and the YUV to BGR step is
OpenCV's own conversion (PyAV's ``to_ndarray(format="bgr24")`` took ~20 % more CPU at 1080p).

A stream read this way keeps :class:`~streamer.source.openers.OpenedStream`'s promises:
bounded open and read times, and an open only counts once a first frame decoded.
"""

from __future__ import annotations

import io
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from streamer.errors import SourceError
from streamer.redact import redact
from streamer.schema.sections import CameraConfig


@dataclass(frozen=True)
class StreamPacket:
    """One compressed packet of the camera's video, as demuxed.

    ``template`` is a stream holding a copy of the codec's parameters (SPS/PPS, size),
    made at open: a clip is muxed with it after the camera's own connection has closed
    (PyAV crashes on a template whose container is closed). Times are seconds of the
    stream's own clock; ``epoch`` tells openings apart.
    """

    packet: av.Packet[av.VideoStream]
    template: Any
    epoch: int
    pts_s: float | None
    dts_s: float | None
    keyframe: bool
    size: int
    codec: str


PacketSink = Callable[[StreamPacket], None]


def _seconds(value: int | None, time_base: Any) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


class PacketStream:
    """An open PyAV container: hands packets on, returns BGR pictures like OpenCV's read."""

    def __init__(self, container: Any, on_packet: PacketSink, epoch: int, what: str) -> None:
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._on_packet = on_packet
        self.epoch = epoch
        self._what = what
        # The codec's parameters, copied into a container that stays open with them.
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self._template = self._holder.add_stream_from_template(self._stream)
        self._codec = self._stream.codec_context.name
        self._packets: Iterator[Any] = container.demux(self._stream)
        self._pictures: deque[Any] = deque()
        self.last_stream_ts: float | None = None
        self.error = ""
        first = self._next_picture()
        if first is None:
            self.release()
            raise SourceError(f"camera.source: {what} opened but gave no frame")
        self._pictures.appendleft(first)
        self.width, self.height = int(first.width), int(first.height)
        rate = self._stream.average_rate or self._stream.guessed_rate
        fps = float(rate) if rate else 0.0
        self.fps = fps if fps and not math.isnan(fps) and 0 < fps <= 1000 else 25.0
        self.frame_count: int | None = int(self._stream.frames) or None

    def _next_picture(self) -> Any | None:
        """Demux until the decoder gives a picture; ``None`` at the end or on an error."""
        while not self._pictures:
            try:
                packet = next(self._packets)
                if packet.size:
                    tb = packet.time_base
                    self._on_packet(
                        StreamPacket(
                            packet, self._template, self.epoch, _seconds(packet.pts, tb),
                            _seconds(packet.dts, tb), bool(packet.is_keyframe), packet.size,
                            self._codec,
                        )
                    )
                self._pictures.extend(packet.decode())
            except StopIteration:
                return None
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                # A timeout, a broken connection or a corrupt packet: the stream is over,
                # as a failed OpenCV read is; the source reopens it.
                self.error = redact(exc)
                return None
        return self._pictures.popleft()

    def read(self) -> tuple[bool, np.ndarray | None]:
        picture = self._next_picture()
        if picture is None:
            return False, None
        self.last_stream_ts = float(picture.time) if picture.time is not None else None
        return True, to_bgr(picture)

    def release(self) -> None:
        self._container.close()


def to_bgr(picture: Any) -> np.ndarray:
    """A decoded picture as OpenCV's BGR array, by OpenCV's own conversion where it can."""
    bgr: np.ndarray
    if picture.format.name in ("yuv420p", "yuvj420p") and not (picture.width % 2 or picture.height % 2):
        bgr = cv2.cvtColor(picture.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    else:
        bgr = picture.to_ndarray(format="bgr24")
    return bgr


def open_packet_stream(
    config: CameraConfig, path: Path | None, on_packet: PacketSink, epoch: int
) -> PacketStream:
    """Open a video file (``path``, already checked) or else the RTSP camera of ``config``
    with PyAV; :class:`SourceError` with one line if not."""
    options: dict[str, str] = {}
    if path is not None:
        target, what = str(path), f"video file {path}"
    else:
        options["rtsp_transport"] = config.rtsp_transport
        target, what = str(config.source), f"stream {redact(config.source)}"
    try:
        container = av.open(
            target, options=options, timeout=(config.open_timeout_s, config.read_timeout_s)
        )
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        hint = "not a video FFmpeg can decode" if path else "unreachable, refused or not a video stream"
        raise SourceError(f"camera.source: cannot open {what}: {hint} ({_short(exc)})") from None
    if not container.streams.video:
        container.close()
        raise SourceError(f"camera.source: {what} has no video stream")
    try:
        return PacketStream(container, on_packet, epoch, what)
    except SourceError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        container.close()
        raise SourceError(f"camera.source: {what}: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    """FFmpeg's reason without the file name it repeats (a URL may hold a password)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return redact(text)
