"""The delivery protocol between the outbox's senders and the sinks.

It belongs to the events layer: a sender drives any sink through it, and a sink (one layer
up) implements it, so no arrow runs from events back to the sinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from streamer.events.record import EventRecord


@dataclass(frozen=True)
class SendOutcome:
    """What one event's delivery to one sink came to.

    ``ok`` events leave the outbox for this sink. Otherwise ``retry`` says whether a later
    attempt may succeed (timeouts, 5xx, 429 with ``retry_after_s``) or the answer is final
    for this event (``reason`` names it).
    """

    event_id: str
    ok: bool
    retry: bool = True
    reason: str = ""
    retry_after_s: float | None = None
    # The sink cannot deliver anything until an operator acts (a refused API key):
    # events are kept, and the sender shows "paused" instead of "backing off".
    paused: bool = False


class Sink(Protocol):
    """A delivery target. ``send`` runs on the sink's own sender thread, never the frame loop.

    It must not raise for a failed delivery: it reports each event's outcome instead.
    A sink whose ``carries_clips`` attribute is true (optional, default false) gets events
    whose clip is still recording only once it is attached or due, each with its
    ``stored_clip``.
    """

    name: str

    def send(self, batch: list[EventRecord]) -> list[SendOutcome]: ...

    def close(self) -> None: ...
