"""Turn a rule's firing into the Vision Events payload (docs/architecture.md, "Vision Events")."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import supervision as sv

from streamer.rules.base import RuleEvent

_DEFAULT_ALERT_TYPE = "zone_intrusion"


def iso_utc(epoch_s: float) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, the form the API documents."""
    moment = datetime.fromtimestamp(epoch_s, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def object_detections(dets: sv.Detections) -> list[dict[str, Any]]:
    """Boxes as the API wants them: centre x/y, width, height in pixels."""
    names = dets.data.get("class_name")
    out = []
    for i, (x1, y1, x2, y2) in enumerate(dets.xyxy.astype(float)):
        confidence = float(dets.confidence[i]) if dets.confidence is not None else 1.0
        out.append(
            {
                "class": str(names[i]) if names is not None else "object",
                "x": round((x1 + x2) / 2, 2),
                "y": round((y1 + y2) / 2, 2),
                "width": round(x2 - x1, 2),
                "height": round(y2 - y1, 2),
                "confidence": round(min(max(confidence, 0.0), 1.0), 4),
            }
        )
    return out


def event_data(event: RuleEvent) -> dict[str, Any]:
    """``eventData`` for the spec's type; unset fields take values from the firing."""
    spec = event.spec
    data: dict[str, Any]
    if spec.type == "safety_alert":
        data = {
            "alertType": spec.alert_type or _DEFAULT_ALERT_TYPE,
            "severity": spec.severity,
            "description": event.describe(),
        }
    elif spec.type == "inventory_count":
        data = {
            "location": spec.location or event.zone_id or "frame",
            "itemCount": int(event.count),
            "itemType": spec.item_type or event.class_name or "object",
        }
    elif spec.type == "quality_check":
        data = {"result": spec.result or "fail"}
    else:
        data = {"value": spec.value or event.describe()}
    if spec.external_id:
        data["externalId"] = spec.external_id
    return data


def build_payload(
    event: RuleEvent,
    wall_ts: float,
    device_id: str,
    stream_id: str,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The POST body minus ``useCaseId``/``workflowId`` (the sink's) and image source ids.

    ``eventId`` is made here, once, so every resend of this event overwrites instead of
    duplicating at the server.
    """
    metadata: dict[str, Any] = dict(event.spec.custom_metadata)
    metadata["rule_id"] = event.rule_id
    if event.zone_id is not None:
        metadata["zone"] = event.zone_id
    if event.track_id is not None:
        metadata["track_id"] = event.track_id
    metadata["reason"] = event.reason[:1000]
    return {
        "eventId": event_id or str(uuid.uuid4()),
        "eventType": event.spec.type,
        "timestamp": iso_utc(wall_ts),
        "deviceId": device_id,
        "streamId": stream_id,
        "images": [{"label": "snapshot", "objectDetections": object_detections(event.detections)}],
        "eventData": event_data(event),
        "customMetadata": metadata,
    }
