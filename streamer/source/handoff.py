"""How a capture thread hands frames to the frame loop.

Live sources hand over through :class:`LatestFrame`: a new frame overwrites an unread one,
so latency never grows and every overwrite is counted. Files hand over through
:class:`FrameQueue`, bounded with a blocking put: every frame, in order.
"""

from __future__ import annotations

import queue
import threading

from streamer.source.frame import Frame

END = object()  # handed over once the source has no more frames


class LatestFrame:
    """A one-frame slot: ``put`` overwrites (counting the drop), ``get`` waits for news."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self.dropped_total = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped_total += 1
            self._frame = frame
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None | object:
        """The newest unread frame, ``END`` once ended and drained, or ``None`` on timeout."""
        with self._cond:
            if self._frame is None and not self._ended:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            if frame is None and self._ended:
                return END
            return frame


class FrameQueue:
    """Every frame in order; the producer waits while the frame loop is busy."""

    dropped_total = 0  # never drops: the file waits instead

    def __init__(self, stop: threading.Event, maxsize: int = 8) -> None:
        self._queue: queue.Queue[Frame | object] = queue.Queue(maxsize=maxsize)
        self._stop = stop

    def put(self, frame: Frame) -> bool:
        """Blocking put that still notices ``stop``; False once stopping."""
        while True:
            try:
                self._queue.put(frame, timeout=0.2)
                return True
            except queue.Full:
                if self._stop.is_set():
                    return False

    def end(self) -> None:
        """The end marker always gets in. A slow frame loop gets every frame first; only
        once the run is stopping (nobody will read them) does a waiting frame make room."""
        while True:
            try:
                self._queue.put(END, timeout=0.2)
                return
            except queue.Full:
                if not self._stop.is_set():
                    continue
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def get(self, timeout: float) -> Frame | None | object:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
