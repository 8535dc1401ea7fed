"""A source's health: its state, moved under one lock, and the outage it may be in.

An outage runs from the last frame to the next one: its down states (``stalled``,
``offline``) are each reported once in it, however many reopen attempts fail, and the
return says how long the picture was away and how many opens it took (issue 19).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from streamer.health import HealthState


@dataclass(frozen=True)
class HealthChange:
    """One transition of a source's health, for health events.

    ``away_s`` and ``attempts`` are set on the return from an outage: how long no picture
    came, and how many opens it took.
    """

    state: HealthState
    previous: HealthState
    reason: str
    wall_ts: float
    away_s: float | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Outage:
    """The current outage as the status shows it (all None/0 while there is a picture)."""

    attempts: int
    next_attempt_wall_ts: float | None
    down_since_wall_ts: float | None


class SourceHealth:
    """The state machine: transitions are checked (``HealthState.may_become``) and made
    under one lock, and queued for health events without loss between polls."""

    def __init__(self, clock: Callable[[], float], started_wall: float) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.state = HealthState.CONNECTING
        self.started_wall = started_wall
        self._changes: deque[HealthChange] = deque(maxlen=100)
        # The current outage: opens since the last frame, when the picture went away,
        # the down states already reported, when the next open is due.
        self._opens = 0
        self._down_since_wall: float | None = None
        self._reported_down: set[HealthState] = set()
        self._next_attempt_wall: float | None = None

    def set(self, state: HealthState, reason: str = "", last_frame_wall: float = 0.0) -> HealthChange | None:
        """Move to ``state``; the change it queues for health events, if any.

        Within one outage each down state is queued once, however often the source moves
        between them or fails to reopen: one ``offline`` event per outage, not per attempt.
        """
        now = self._clock()
        with self._lock:
            previous = self.state
            if previous == state:
                return None
            if not previous.may_become(state):
                raise ValueError(f"source health cannot go from {previous} to {state}")
            self.state = state
            away_s: float | None = None
            attempts = 0
            if state.down:
                if self._down_since_wall is None:
                    self._down_since_wall = last_frame_wall or self.started_wall
                if state in self._reported_down:
                    return None
                self._reported_down.add(state)
            elif state.picture:
                if self._down_since_wall is not None:
                    away_s = max(now - self._down_since_wall, 0.0)
                    attempts = self._opens
                self._down_since_wall = None
                self._reported_down.clear()
                self._opens = 0
            change = HealthChange(state, previous, reason, now, away_s, attempts)
            self._changes.append(change)
            return change

    def end(self, state: HealthState) -> None:
        """The capture is over (``ended`` or ``offline``): no event, the run is stopping."""
        with self._lock:
            if self.state is not HealthState.ENDED:
                self.state = state

    def opening(self) -> None:
        """One more open attempt starts now."""
        with self._lock:
            self._opens += 1
            self._next_attempt_wall = None

    def next_attempt_at(self, wall_ts: float) -> None:
        with self._lock:
            self._next_attempt_wall = wall_ts

    def outage(self) -> Outage:
        with self._lock:
            attempts = self._opens if not self.state.picture else 0
            return Outage(attempts, self._next_attempt_wall, self._down_since_wall)

    def changes(self) -> list[HealthChange]:
        """Transitions since the last call, oldest first (none are lost between polls)."""
        with self._lock:
            out = list(self._changes)
            self._changes.clear()
        return out
