"""What sinks share: the context their factories get, JSON bodies, capped detections, safe
file writes. The contract itself (the ``Sink`` base and the ``Outcome`` of a send) belongs to
the delivery loop in :mod:`streamer.events.sink_contract`; it is re-exported here for the
sinks."""

from __future__ import annotations

import base64
import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from streamer.events.clips import delivered_metadata
from streamer.events.record import EventRecord, image_refs
from streamer.events.sink_contract import Dead, Delivered, Outcome, Paused, Retry, Sink
from streamer.schema.sections import FileLimitsConfig, OutboxConfig
from streamer.sinks.retention import Retention

__all__ = [
    "Dead", "Delivered", "Outcome", "Paused", "Retry", "Sink", "SinkContext", "cap_detections",
    "json_body", "write_atomic",
]


@dataclass
class SinkContext:
    """What a sink's factory may take from the run: the outbox's limits (a file sink's own
    default to them, so files beside it do not grow without bound either) and HTTP clients,
    which the run closes after the senders stop."""

    outbox: OutboxConfig
    clients: list[httpx.Client] = field(default_factory=list)

    def http_client(self, timeout_s: float, in_flight: int = 1) -> httpx.Client:
        """A client that never follows redirects, with a kept-alive connection per request
        in flight (:func:`streamer.sinks.http.make_client`)."""
        from streamer.sinks.http import make_client

        client = make_client(timeout_s, in_flight)
        self.clients.append(client)
        return client

    def retention(self, limits: FileLimitsConfig) -> Retention:
        return Retention.of(
            limits.max_mb or self.outbox.max_mb, limits.ttl_days or self.outbox.ttl_days
        )


def with_clip_metadata(payload: dict[str, Any], record: EventRecord, where: str) -> dict[str, Any]:
    """``payload`` with ``customMetadata`` saying where the event's clip went (``where``)
    or why it is missing, for a sink that carries clips; unchanged for other events."""
    extra = delivered_metadata(record.stored_clip, where)
    if extra:
        metadata = payload.get("customMetadata")
        payload["customMetadata"] = {**(metadata if isinstance(metadata, dict) else {}), **extra}
    return payload


def json_body(record: EventRecord, include_images: bool, clip_where: str = "attached") -> bytes:
    """The event as self-contained JSON (webhook, MQTT): the payload, each image entry's
    JPEGs inlined as base64 when ``include_images``, the internal image keys removed; for a
    sink that carries clips, ``customMetadata`` says ``clip_where`` or why it is missing."""
    payload: dict[str, Any] = with_clip_metadata(copy.deepcopy(record.payload), record, clip_where)
    images = []
    for ref in image_refs(record):
        entry = copy.deepcopy(ref.entry)
        if include_images:
            entry["imageBase64"] = base64.b64encode(record.images[ref.image]).decode()
            if ref.input_image is not None:
                entry["inputImageBase64"] = base64.b64encode(record.images[ref.input_image]).decode()
        images.append(entry)
    if "images" in payload:
        payload["images"] = images
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")


# The importer caps each annotation list at 1000 and drops every image of an event whose
# list is longer (what Roboflow's own bundle writer guards against): cut before sending.
MAX_DETECTIONS_PER_LIST = 1000
DETECTIONS_CUT_KEY = "detections_cut"


def cap_detections(payload: dict[str, Any]) -> dict[str, Any]:
    """Keep the 1000 most confident boxes of each image's ``objectDetections`` (in their
    order) and record in ``customMetadata.detections_cut`` how many were left out, so a
    crowded frame still arrives with its pictures. Changes ``payload`` in place; returns it.
    """
    cut = 0
    for entry in payload.get("images") or []:
        detections = entry.get("objectDetections") if isinstance(entry, dict) else None
        if not isinstance(detections, list) or len(detections) <= MAX_DETECTIONS_PER_LIST:
            continue
        ranked = sorted(range(len(detections)), key=lambda i: -_confidence(detections[i]))
        keep = sorted(ranked[:MAX_DETECTIONS_PER_LIST])
        entry["objectDetections"] = [detections[i] for i in keep]
        cut += len(detections) - len(keep)
    if cut:
        metadata = payload.get("customMetadata")
        payload["customMetadata"] = {**(metadata if isinstance(metadata, dict) else {}),
                                     DETECTIONS_CUT_KEY: cut}
    return payload


def _confidence(detection: object) -> float:
    value = detection.get("confidence") if isinstance(detection, dict) else None
    return float(value) if isinstance(value, (int, float)) else 0.0


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` under a temp name, fsync, then rename: a reader or a
    crash never sees half a file."""
    temp = target.with_name(f".{target.name}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


def fsync_dir(directory: Path) -> None:
    """Make renames and new names in ``directory`` survive a power cut, not only the
    files' bytes."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
