"""The sink protocol: deliver a batch of stored events, say what happened to each."""

from __future__ import annotations

import base64
import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from streamer.events.record import EventRecord, image_refs


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
    """

    name: str

    def send(self, batch: list[EventRecord]) -> list[SendOutcome]: ...

    def close(self) -> None: ...


def json_body(record: EventRecord, include_images: bool) -> bytes:
    """The event as self-contained JSON (webhook, MQTT): the payload, each image entry's
    JPEGs inlined as base64 when ``include_images``, the internal image keys removed."""
    payload: dict[str, Any] = copy.deepcopy(record.payload)
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
