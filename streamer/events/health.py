"""Camera health as events: a camera that went blind must show on the dashboard.

A health change is not a rule firing, but it travels the same road (EventWriter ->
outbox -> sinks) so it is as durable as any alert. It becomes a ``custom`` Vision Event
under the fixed rule id ``camera-health``, with no detections.
"""

from __future__ import annotations

import supervision as sv

from streamer.config.models import EventSpec
from streamer.rules.base import RuleEvent

HEALTH_RULE_ID = "camera-health"


def health_event(state: str, previous: str, reason: str, camera_id: str, t_s: float) -> RuleEvent:
    """The event for camera ``camera_id`` entering ``state``.

    Every sink delivers it off the box, so it names the camera by its id (also in
    ``customMetadata.source``), never by its URL; ``reason`` must already be free of it.
    """
    spec = EventSpec(
        type="custom",
        value=f"camera {state}",
        custom_metadata={
            "health_state": state, "previous_state": previous, "source": camera_id[:1000],
        },
    )
    line = f"camera {state}" + (f": {reason}" if reason else "")
    return RuleEvent(
        rule_id=HEALTH_RULE_ID,
        t_s=t_s,
        spec=spec,
        detections=sv.Detections.empty(),
        reason=line[:1000],
    )
