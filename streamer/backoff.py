"""One retry schedule for everything that retries: camera reconnects and sink deliveries.

Exponential (doubling from ``start_s``) up to ``max_s``, with jitter taken *below* the
level, so ``max_s`` is a true upper bound on any wait: "the picture is back within
``max_s`` + one open" must hold for every draw, not only on average. The jitter keeps a
fleet of cameras (or senders) that lost the same switch from retrying in lockstep.
"""

from __future__ import annotations

import random


class Backoff:
    """Waits of ``start_s``, ``2 * start_s``, ... capped at ``max_s``, each jittered down
    by up to ``jitter`` (0.2: a wait lies in [0.8, 1.0] x its level)."""

    def __init__(
        self,
        start_s: float,
        max_s: float,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if start_s <= 0 or max_s <= 0:
            raise ValueError("backoff start_s and max_s must be > 0")
        if not 0 <= jitter < 1:
            raise ValueError("backoff jitter must be in [0, 1)")
        self.start_s = min(start_s, max_s)
        self.max_s = max_s
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._level = 0.0  # 0: no failure since the last reset
        self.failures = 0

    @property
    def active(self) -> bool:
        """True between a failure and the next reset."""
        return self.failures > 0

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next try."""
        self._level = self.start_s if not self._level else min(self._level * 2, self.max_s)
        self.failures += 1
        return self._level * self._rng.uniform(1 - self.jitter, 1)

    def hold(self, level_s: float) -> None:
        """Continue the schedule from ``level_s`` (e.g. after a server's ``Retry-After``),
        so the next failure without one doubles from there instead of restarting small."""
        self._level = min(level_s, self.max_s) if level_s >= self.start_s else 0.0

    def reset(self) -> None:
        """A success: the next failure starts again at ``start_s``."""
        self._level = 0.0
        self.failures = 0
