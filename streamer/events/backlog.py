"""What the event writer holds in memory while the outbox cannot be written.

Prepared events and clips wait here in order, bounded by bytes (one 1080p event is a few
hundred KB of JPEG, its raw frame 6 MB), and the write is retried with doubling backoff:
soon at first (a brief lock or hiccup), then every few seconds, so an operator who frees
the disk sees the backlog stored within seconds. Kept apart from the writer because it is
the one part with a policy of its own (order, byte bound, backoff) and no I/O: the writer
decides what storing and giving up mean.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Weighed(Protocol):
    """An item with its size in memory."""

    @property
    def nbytes(self) -> int: ...


Item = TypeVar("Item", bound=Weighed)


class Backlog(Generic[Item]):
    """Items in arrival order, at most ``max_bytes`` in all, with the next retry's time.

    Used from the writer thread only.
    """

    def __init__(self, max_bytes: int, retry_start_s: float, retry_max_s: float) -> None:
        self.max_bytes = max_bytes
        self._retry_start_s = retry_start_s
        self._retry_max_s = retry_max_s
        self._items: deque[Item] = deque()
        self.nbytes = 0
        self.retry_s = 0.0
        self._next_try = 0.0

    def __bool__(self) -> bool:
        return bool(self._items)

    def items(self) -> list[Item]:
        """A copy, safe to read from another thread."""
        return list(self._items)

    def hold(self, item: Item) -> list[Item]:
        """Queue ``item`` last; returns the oldest items evicted to stay within bytes."""
        self._items.append(item)
        self.nbytes += item.nbytes
        evicted: list[Item] = []
        while self.nbytes > self.max_bytes and self._items:
            oldest = self._items.popleft()
            self.nbytes -= oldest.nbytes
            evicted.append(oldest)
        return evicted

    def wait_s(self) -> float | None:
        """Seconds until the next retry is due; None when nothing waits."""
        return None if not self._items else max(0.0, self._next_try - time.monotonic())

    def due(self) -> bool:
        return bool(self._items) and time.monotonic() >= self._next_try

    def flush(self, store: Callable[[Item], bool]) -> int | None:
        """``store`` each item in order, dropping it once stored; the number stored, or None
        (and a retry scheduled) when one fails and so it and those behind it wait on."""
        stored = 0
        while self._items:
            if not store(self._items[0]):
                self.schedule_retry()
                return None
            self.nbytes -= self._items.popleft().nbytes
            stored += 1
        self.retry_s = 0.0
        return stored

    def schedule_retry(self) -> None:
        """The next try after a failed write: doubling from the start, capped."""
        self.retry_s = (
            self._retry_start_s if not self.retry_s else min(self.retry_s * 2, self._retry_max_s)
        )
        self._next_try = time.monotonic() + self.retry_s

    def take_all(self) -> list[Item]:
        """Empty the backlog, returning what waited (given up at shutdown)."""
        items = list(self._items)
        self._items.clear()
        self.nbytes = 0
        return items
