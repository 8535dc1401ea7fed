"""A video file as a source: every frame in order, stamped with the file's own time.

It opens in ``start()`` on the caller's thread, so a missing or undecodable file fails
the run at once with a :class:`SourceError`. ``realtime`` paces it at its own rate and
hands over like a camera (newest frame wins).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from streamer.health_state import HealthState
from streamer.schema.sections import CameraConfig
from streamer.source.base import CaptureBase
from streamer.source.handoff import FrameQueue, LatestFrame
from streamer.source.openers import OpenedStream
from streamer.source.packets import PacketSink, PacketStream


class FileSource(CaptureBase):
    """Reads a file on one thread; ``loop`` starts it again at the end (demos)."""

    final_state = HealthState.ENDED

    def __init__(
        self, config: CameraConfig, stop: threading.Event, clock: Callable[[], float] = time.time,
        on_packet: PacketSink | None = None,
    ) -> None:
        # `realtime` hands over like a camera (newest wins); else every frame, in order.
        handoff = LatestFrame() if config.realtime else FrameQueue(stop)
        super().__init__(config, stop, clock, handoff, on_packet)
        self._stream: OpenedStream | PacketStream | None = None

    def start(self) -> None:
        """Open the file (raises :class:`SourceError` if it cannot be read), then read it."""
        self._stream = self._open()
        self._adopt(self._stream)
        self._set_state(HealthState.LIVE)
        super().start()

    def _finish(self) -> None:
        if self._stream is not None:
            self._stream.release()

    def _run_capture(self) -> None:
        assert self._stream is not None
        fps = self.fps
        start_wall = self._clock()
        start_mono = time.monotonic()
        index = 0
        while not self._stop.is_set():
            ok, image = self._stream.read()
            if not ok or image is None:
                if not self.config.loop or index == 0:
                    return
                # `loop: true`: start the file again; frame time keeps counting up so rules
                # see one continuous video.
                self._stream.release()
                self._stream = self._open()
                continue
            t_s = index / fps
            self._count_read(self._clock())
            frame = self._frame(image, index, t_s, start_wall + t_s, self._stream)
            index += 1
            if frame is None:
                continue
            if isinstance(self._handoff, LatestFrame):
                # `realtime`: pace at the file's own rate, like a camera would deliver it.
                delay = start_mono + t_s - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                self._handoff.put(frame)
            elif isinstance(self._handoff, FrameQueue) and not self._handoff.put(frame):
                return
