"""``camera.detect_source``: a second, smaller stream of the same camera for the models.

Most IP cameras send a main stream (clips, snapshots, the live view) and a sub-stream
(640x360 or so). Detecting on the sub-stream costs the decoder and the letterbox far
less; the boxes are scaled to the main stream's pixels by the frame step. The two
streams are read on their own capture threads and paired by capture time: each main
frame gets the newest sub-stream frame captured no later than it (a few milliseconds of
slack), or the newest one seen when none is that old yet.
"""

from __future__ import annotations

import time

from streamer.source.base import Source
from streamer.source.frame import Frame

# Capture stamps of two streams of one camera differ by decoding and scheduling: a
# sub-stream frame stamped this much after the main one still counts as the same moment.
PAIR_SLACK_S = 0.02
# A file read frame by frame is paired in step; a sub-stream file that stops delivering
# is waited for this long per main frame, then the newest frame it gave is used.
LOCKSTEP_WAIT_S = 2.0


class SubStream:
    """The detection stream beside the main one; frame-loop thread only.

    Args:
        source: the sub-stream's source (not yet started).
        lockstep: both streams are files read frame by frame: pair by frame time and
            wait for the sub-stream's frame instead of taking whatever is newest.
    """

    def __init__(self, source: Source, lockstep: bool) -> None:
        self.source = source
        self._lockstep = lockstep
        self._latest: Frame | None = None
        self._pending: Frame | None = None  # read, but captured after the main frame
        self._ended = False
        self.paired_total = 0
        self.unpaired_total = 0  # main frames with no sub-stream frame yet (main used)

    def start(self) -> None:
        self.source.start()

    def frame_for(self, main: Frame) -> Frame | None:
        """The sub-stream frame that goes with ``main``; None while it has sent none."""
        deadline = time.monotonic() + LOCKSTEP_WAIT_S
        while not self._ended:
            if self._pending is None:
                wait = max(deadline - time.monotonic(), 0.0) if self._lockstep else 0.0
                try:
                    self._pending = self.source.read(timeout=min(wait, 0.5))
                except EOFError:
                    self._ended = True
                    break
                if self._pending is None:
                    if self._lockstep and time.monotonic() < deadline:
                        continue
                    break
            if self._stamp(self._pending) > self._stamp(main) + PAIR_SLACK_S:
                break  # from after this main frame: it goes with a later one
            self._latest, self._pending = self._pending, None
        if self._latest is None:
            self.unpaired_total += 1
        else:
            self.paired_total += 1
        return self._latest

    def _stamp(self, frame: Frame) -> float:
        # Files read frame by frame share frame time (index / fps); anything else is
        # stamped by the wall clock at capture, which both streams share.
        return frame.t_s if self._lockstep else frame.wall_ts

    def status(self) -> dict[str, object]:
        health = self.source.health()
        return {
            "source": health.get("source"),
            "state": health.get("state"),
            "fps_in": health.get("fps"),
            "width": self.source.width,
            "height": self.source.height,
            "paired_total": self.paired_total,
            "unpaired_total": self.unpaired_total,
        }

    def close(self) -> None:
        self.source.join(timeout=5.0)


__all__ = ["SubStream"]
