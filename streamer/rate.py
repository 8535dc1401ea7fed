"""One rate meter for every "per second" the runtime shows: a source's input fps, the frame
loop's output fps. A rate of a growing total over a sliding window, so it follows changes
within seconds and drops to 0 when the total stops growing."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateMeter:
    """Rate of a growing total over the last ``window_s`` seconds.

    ``sample(total)`` records a point (e.g. per frame); ``rate(total)`` records one at the
    time of reading and returns the rate since the oldest point in the window, so a total
    that stopped growing reads as a falling rate, not as the last one seen.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()  # /api/status, /metrics and the capture thread at once

    def sample(self, total: int) -> None:
        self._add(time.monotonic(), total)

    def rate(self, total: int) -> float:
        now = time.monotonic()
        first_t, first_total = self._add(now, total)
        return (total - first_total) / (now - first_t) if now > first_t else 0.0

    def _add(self, now: float, total: int) -> tuple[float, int]:
        """Record a point, drop the ones the window no longer needs; the oldest kept."""
        with self._lock:
            self._samples.append((now, total))
            while len(self._samples) > 2 and now - self._samples[1][0] >= self._window_s:
                self._samples.popleft()
            return self._samples[0]
