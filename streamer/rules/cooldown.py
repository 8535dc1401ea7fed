"""One cooldown helper for every rule, keyed by scope."""

from __future__ import annotations

from collections.abc import Hashable

# Frame times are sums of 1/fps: 0.7 - 0.2 is 0.49999999999999994. Durations compare
# with this slack so "held for 0.5 s" fires on the frame a person would expect.
EPS_S = 1e-6


class Cooldown:
    """Remembers when each scope last fired, in frame time.

    The key is ``None`` for ``cooldown_scope: rule`` and the track id for ``track``.
    ``cooldown_s == 0`` lets every qualifying transition fire.
    """

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self._last_fired: dict[Hashable, float] = {}

    def ready(self, key: Hashable, t_s: float) -> bool:
        last = self._last_fired.get(key)
        return last is None or t_s - last + EPS_S >= self.cooldown_s

    def fire(self, key: Hashable, t_s: float) -> None:
        self._last_fired[key] = t_s

    def remaining(self, t_s: float) -> dict[str, float]:
        """Seconds left per scope still cooling down (for the live state)."""
        out: dict[str, float] = {}
        for key, last in self._last_fired.items():
            left = self.cooldown_s - (t_s - last)
            if left > 0:
                out["rule" if key is None else str(key)] = round(left, 3)
        return out

    def forget(self, key: Hashable, t_s: float) -> None:
        """Drop a scope whose cooldown has run out (keeps the dict from growing forever)."""
        if self.ready(key, t_s):
            self._last_fired.pop(key, None)
