"""The delivery contract between the outbox's senders and the sinks: the :class:`Sink` base
every sink derives from, and :data:`Outcome`, what one event's delivery came to.

It belongs to the events layer: a sender drives any sink through it, and a sink (one layer
up) implements it, so no arrow runs from events back to the sinks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Union

from streamer.events.record import EventRecord


@dataclass(frozen=True)
class Delivered:
    """The sink has the event: it leaves the outbox for this sink. ``duplicate`` when the
    server said it already had our eventId (a 409)."""

    duplicate: bool = False


@dataclass(frozen=True)
class Retry:
    """Keep the event and try again later (timeouts, 5xx, 429), after ``after_s`` when the
    server said (``Retry-After``). ``server_wide``: the rest of the batch would fail the same
    way (server down, rate limited), so it is not attempted now."""

    reason: str
    after_s: float | None = None
    server_wide: bool = False


@dataclass(frozen=True)
class Dead:
    """Final for this event: the sink refused it (``reason``; ``status`` the HTTP status,
    if any). It goes to the dead letters, where `streamer events retry` finds it."""

    reason: str
    status: int | None = None


@dataclass(frozen=True)
class Paused:
    """Nothing can be delivered until an operator acts (a refused key, a redirect): keep
    every event, retry now and then, and show ``reason`` as the sink's status."""

    reason: str
    after_s: float | None = None


# What one event's delivery to one sink came to: the one outcome type of every send.
Outcome = Union[Delivered, Retry, Dead, Paused]


class Sink(ABC):
    """A delivery target. ``send`` runs on the sink's own sender thread, never the frame loop.

    Traits the sender reads are declared here with their defaults; a sink sets its own in its
    class body or its ``__init__`` (from its config).
    """

    name: str
    # Events per ``send``.
    batch_size: int = 20
    # Gets events whose clip is still recording only once it is attached or due, each with
    # its ``stored_clip`` (batches of a few events: clips are megabytes).
    carries_clips: bool = False
    # Takes half of each batch from the newest end of a backlog, so a new alert is not
    # queued behind hours of history (a network sink); a file sink keeps time order.
    fresh_first: bool = False

    @property
    def evicted_total(self) -> int:
        """Files this sink removed to keep to its limits; the sender copies the count into
        the outbox's ``files_evicted`` counter. A sink that leaves no files: 0."""
        return 0

    @abstractmethod
    def send(self, batch: list[EventRecord]) -> dict[str, Outcome]:
        """Deliver ``batch``; each event's :data:`Outcome` by its eventId. Never raises for
        a failed delivery: an event it gives no outcome for is retried."""

    def close(self) -> None:  # noqa: B027 (a sink holding nothing has nothing to release)
        """Release connections and files; called once, after the sender stopped."""
