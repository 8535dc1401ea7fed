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

    def held(self, now: float) -> bool:
        """Whether a sink that carries clips still waits for it (expected, not yet due)."""
        return self.state == "recording" and now < self.due_ts

    def missing(self) -> str | None:
        """Why a sink delivers the event without its clip, or None when the clip is here."""
        if self.state == "ready" and self.mp4:
            return None
        if self.state == "failed":
            return str(self.meta.get("reason") or "the recorder could not make it")
        return "not ready by its due time"


def plan_metadata(plan: ClipPlan) -> dict[str, Any]:
    """``customMetadata`` of an event with a clip, set when the event is made: the clip
    stays on the box for sinks that carry images only (Vision Events), and says so."""
    return {"clip": "on_box", "clip_pre_s": plan.pre_s, "clip_post_s": plan.post_s}


def delivered_metadata(stored: StoredClip | None, where: str) -> dict[str, Any]:
    """``customMetadata`` keys a clip-carrying sink sets: ``clip`` is ``where`` (the sink's
    word for "it travels with the event") or ``missing`` with ``clip_missing`` saying why;
    nothing for an event that never had a clip."""
    if stored is None:
        return {}
    reason = stored.missing()
    if reason is not None:
        return {"clip": "missing", "clip_missing": reason[:1000]}
    out: dict[str, Any] = {"clip": where}
    for key in ("duration_s", "start_s", "end_s"):
        value = stored.meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"clip_{key}"] = round(float(value), 3)
    if stored.meta.get("short"):
        out["clip_short"] = str(stored.meta["short"])[:1000]
    return out
