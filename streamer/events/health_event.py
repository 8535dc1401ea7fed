"""Camera health as events: a camera that went blind must show on the dashboard.

A health change is not a rule firing, but it travels the same road (EventWriter ->
outbox -> sinks) so it is as durable as any alert. It becomes a ``custom`` Vision Event
under the fixed rule id ``camera-health``, with no detections.
"""

from __future__ import annotations

from collections.abc import Mapping

import supervision as sv

from streamer.rules.base import RuleEvent
from streamer.schema.rule_parts import EventSpec

HEALTH_RULE_ID = "camera-health"


def health_event(
    state: str,
    previous: str,
    reason: str,
    camera_id: str,
    t_s: float,
    away_s: float | None = None,
    attempts: int = 0,
    figures: Mapping[str, float | None] | None = None,
) -> RuleEvent:
    """The event for camera ``camera_id`` entering ``state``.

    Every sink delivers it off the box, so it names the camera by its id (also in
    ``customMetadata.source``), never by its URL; ``reason`` must already be free of it.
    A return from an outage (``away_s`` set) says how long the picture was away and how
    many opens it took, so a dashboard shows the gap in the record without a second query.
    A view state (``moved``, ``obstructed``, ``blurred``) carries its measured ``figures``
    (``shift_px``, ``covered``, ``sharpness_ratio``...), one metadata key each.
    """
    metadata = {"health_state": state, "previous_state": previous, "source": camera_id[:1000]}
    for key, value in (figures or {}).items():
        if value is not None:
            metadata[key] = f"{value:g}"
    if away_s is not None:
        metadata.update(away_s=f"{away_s:.1f}", reconnect_attempts=str(attempts))
        reason = reason or f"back after {away_s:.1f} s away ({attempts} reconnect attempt(s))"
    spec = EventSpec(type="custom", value=f"camera {state}", custom_metadata=metadata)
    line = f"camera {state}" + (f": {reason}" if reason else "")
    return RuleEvent(
        rule_id=HEALTH_RULE_ID,
        t_s=t_s,
        spec=spec,
        detections=sv.Detections.empty(),
        reason=line[:1000],
    )
