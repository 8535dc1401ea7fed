"""The health states of a source, in one place: the source moves through them, the config
(``camera.health_events``) and the metrics list them from here, never from a copy.

A leaf module (no imports from the package) so that config, source and monitor can all use it.
"""

from __future__ import annotations

from enum import Enum


class HealthState(str, Enum):
    """Where a source stands; a ``str`` so status JSON, events and comparisons read as before."""

    CONNECTING = "connecting"  # not a frame yet
    LIVE = "live"
    STALLED = "stalled"  # reads hang: the reader was abandoned, a new one is opening
    FROZEN = "frozen"  # frames come, the picture does not change
    OFFLINE = "offline"  # the connection failed or ended; reopening
    ENDED = "ended"  # a file reached its end, or the capture stopped for good
    # Frames come, but the camera no longer sees what its places were drawn on (issue 27).
    MOVED = "moved"  # the scene shifted or turned against the reference view
    OBSTRUCTED = "obstructed"  # most of the picture covered, or dark in a day view
    BLURRED = "blurred"  # sharpness far below the reference view's

    def __str__(self) -> str:
        return self.value

    @property
    def down(self) -> bool:
        """No picture: part of an outage (each down state is reported once per outage)."""
        return self in (HealthState.STALLED, HealthState.OFFLINE)

    @property
    def picture(self) -> bool:
        """Frames arrive (a frozen picture is still a picture: the outage, if any, is over)."""
        return self in (HealthState.LIVE, HealthState.FROZEN) or self.view

    @property
    def view(self) -> bool:
        """A picture that no longer shows what the places were drawn on (a tamper state)."""
        return self in (HealthState.MOVED, HealthState.OBSTRUCTED, HealthState.BLURRED)

    def may_become(self, new: HealthState) -> bool:
        """The allowed transitions: nothing goes back to ``connecting``, nothing leaves ``ended``."""
        return self is not HealthState.ENDED and new is not HealthState.CONNECTING and new is not self


# The states a camera may raise a health event for (`camera.health_events`): all but the end.
EVENT_STATES: tuple[str, ...] = tuple(s.value for s in HealthState if s is not HealthState.ENDED)
ALL_STATES: tuple[str, ...] = tuple(s.value for s in HealthState)
