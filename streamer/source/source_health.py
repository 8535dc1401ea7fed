"""A source's health: its state, moved under one lock, and the outage it may be in.

An outage runs from the last frame to the next one: its down states (``stalled``,
``offline``) are each reported once in it, however many reopen attempts fail, and the
return says how long the picture was away and how many opens it took (issue 19).

A picture can also be wrong while frames flow (issue 27): the view watch says so with
:meth:`SourceHealth.view`, and the source then shows ``moved``, ``obstructed`` or
``blurred`` wherever it would show ``live``. A tamper episode runs from leaving ``live`` to
coming back to it; each of its states is reported once in it, with the measured figures.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streamer.health_state import HealthState


@dataclass(frozen=True)
class HealthChange:
    """One transition of a source's health, for health events.

    ``away_s`` and ``attempts`` are set on the return from an outage: how long no picture
    came, and how many opens it took. ``figures`` are a view state's measures (shift in
    pixels, covered share, sharpness ratio...), also on the ``live`` that ends one.
    """

    state: HealthState
    previous: HealthState
    reason: str
    wall_ts: float
    away_s: float | None = None
    attempts: int = 0
    figures: Mapping[str, float | None] = field(default_factory=dict)


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
        # What the view watch says of the picture: a view state (None: right), its reason
        # and figures; and the view states already reported in this tamper episode.
        self._view: HealthState | None = None
        self._view_reason = ""
        self._view_figures: Mapping[str, float | None] = {}
        self._reported_view: set[HealthState] = set()

    def set(self, state: HealthState, reason: str = "", last_frame_wall: float = 0.0) -> HealthChange | None:
        """Move to ``state``; the change it queues for health events, if any.

        Within one outage each down state is queued once, however often the source moves
        between them or fails to reopen: one ``offline`` event per outage, not per attempt.
        ``live`` means the view state while the view watch reports one.
        """
        with self._lock:
            return self._move(state, reason, last_frame_wall)

    def view(self, state: HealthState | None, reason: str = "", figures: Mapping[str, float | None] | None = None,
             ) -> HealthChange | None:
        """The view watch's verdict: ``state`` is a view state, or None when the picture is
        right again. Shown at once where the source is ``live`` or in a view state; while it
        is frozen or away, the verdict waits for the picture to be back."""
        if state is not None and not state.view:
            raise ValueError(f"{state} is not a view state")
        with self._lock:
            self._view, self._view_reason, self._view_figures = state, reason, dict(figures or {})
            if self.state is HealthState.LIVE or self.state.view:
                return self._move(HealthState.LIVE, "")
            return None

    def _move(self, state: HealthState, reason: str, last_frame_wall: float = 0.0) -> HealthChange | None:
        """The transition itself (the lock held)."""
        figures: Mapping[str, float | None] = {}
        if state is HealthState.LIVE and self._view is not None:
            state, reason, figures = self._view, self._view_reason, self._view_figures
        elif state is HealthState.LIVE and self.state.view:
            reason = reason or "the view matches the reference view again"
            figures = self._view_figures
        now = self._clock()
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
            if state.view:
                if state in self._reported_view and away_s is None:
                    return None  # once per tamper episode
                self._reported_view.add(state)
            elif state is HealthState.LIVE:
                self._reported_view.clear()
        change = HealthChange(state, previous, reason, now, away_s, attempts, figures)
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

    def view_state(self) -> HealthState | None:
        """The view watch's last verdict (None: the view is right or not judged)."""
        with self._lock:
            return self._view

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
