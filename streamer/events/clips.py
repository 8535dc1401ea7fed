"""An event's clip as the outbox keeps it (issue 17).

The frame loop decides that an event gets a clip (its rule has ``clip:``) and the event
is stored at once with a clip *expected*; the clip recorder attaches the MP4 ``post_s``
later. Sinks that carry clips hold such an event back until its clip is attached or
``due_ts`` has passed; the others deliver it at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClipPlan:
    """What the frame loop asked for when the event fired.

    Attributes:
        pre_s, post_s: seconds of picture before and after the event.
        annotated: the overlay drawn on the clip's frames.
        due_ts: wall time after which sinks stop waiting for the clip (the event's time
            plus ``post_s`` plus time to write it).
    """

    pre_s: float
    post_s: float
    annotated: bool
    due_ts: float


@dataclass(frozen=True)
class StoredClip:
    """A clip attached to a stored event.

    ``state`` is ``recording`` (expected, not attached yet), ``ready`` (``mp4`` holds it)
    or ``failed`` (``meta["reason"]`` says why). ``meta`` holds what the recorder measured:
    ``start_s``/``end_s`` (seconds relative to the event, start negative), ``duration_s``,
    ``frames``, ``codec``, ``copied`` (the camera's own packets, not re-encoded),
    ``short`` (why it is shorter than asked, or absent), ``annotated``.
    """

    event_id: str
    state: str
    due_ts: float
    mp4: bytes | None = None
    meta: dict[str, Any] = field(default_factory=dict)
