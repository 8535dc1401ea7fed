"""The contract table: what Roboflow's own client sends, field by field, against ours.

The reference is the Vision Events block and bundle writer of roboflow-workflows 0.2.13
(docs/architecture.md, "Vision Events"). One row per field of its request and its bundle: what it
sends, and a check run against what our sink really sent for the same event (one event
with a snapshot and the raw frame, through the local server and into a bundle). A row
whose ``ours`` differs says so and why; docs/delivery.md's "Where we differ" lists the same.
"""

from __future__ import annotations

import json
import tarfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import supervision as sv
from support import crowded_record, tiny_jpeg
from support.outcomes import send_in_order
from support.vision_events_server import VisionEventsServer

from streamer.config.models import BundleSinkConfig, EventSpec, VisionEventsSinkConfig
from streamer.events.payload import build_payload
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord
from streamer.events.sink_contract import Delivered
from streamer.rules.base import RuleEvent
from streamer.sinks.bundle import BundleSink
from streamer.sinks.vision_events import VisionEventsSink

pytestmark = pytest.mark.integration

API_KEY = "contract-key-0123456789"
USE_CASE = "site-safety"
# Two boxes in pixels (x1, y1, x2, y2), one with a score above 1 that must be clamped.
BOXES = np.array([[100.0, 50.0, 160.0, 250.0], [10.0, 20.0, 30.0, 60.0]])
SCORES = np.array([0.91, 1.2])


@dataclass(frozen=True)
class Sent:
    """Everything our sinks produced for the one event."""

    record: EventRecord
    event: dict[str, Any]  # the JSON body the server stored
    requests: list[tuple[str, dict[str, str]]]  # (path, headers)
    upload_fields: list[list[str]]
    uploads: dict[str, bytes]
    bundle: dict[str, Any]  # payload.json with use_case configured
    bundle_members: list[str]
    bundle_name: str
    bundle_without_use_case: dict[str, Any]
    crowded_event: dict[str, Any]  # a 1500-box event as posted
    crowded_bundle: dict[str, Any]  # and as bundled


def the_event() -> EventRecord:
    """One zone firing built by the real payload code, with snapshot and raw frame."""
    detections = sv.Detections(xyxy=BOXES, confidence=SCORES,
                               data={"class_name": np.array(["person", "helmet"])})
    spec = EventSpec(type="safety_alert", alert_type="zone_intrusion", severity="high",
                     external_id="ticket-42")
    event = RuleEvent("lane-intrusion", 3.5, spec, detections, "person #4 entered lane",
                      zone_id="lane", track_id=4, class_name="person")
    payload = build_payload(event, wall_ts=1_746_100_800.25, device_id="edge-box-07",
                            stream_id="dock-3")
    payload["images"][0][INPUT_IMAGE_KEY] = 1
    return EventRecord(payload["eventId"], payload, [tiny_jpeg(1), tiny_jpeg(2)],
                       1_746_100_800.0, "lane-intrusion")


def read_bundle(directory: Path) -> tuple[str, dict[str, Any], list[str]]:
    (path,) = directory.iterdir()
    with tarfile.open(path, "r:gz") as archive:
        payload = json.load(archive.extractfile("payload.json"))  # type: ignore[arg-type]
        return path.name, payload, archive.getnames()


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    record = the_event()
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as server, \
            httpx.Client() as client:
        config = VisionEventsSinkConfig(type="vision_events", api_url=server.url,
                                        api_key=API_KEY, use_case=USE_CASE)
        (outcome,) = send_in_order(VisionEventsSink(config, client), [record])
        assert isinstance(outcome, Delivered), outcome.reason
        with server.lock:
            event = server.events[record.event_id]
            requests = list(server.headers)
            fields = list(server.upload_fields.values())
            uploads = dict(server.uploads)
        crowded = crowded_record(1500)
        assert isinstance(send_in_order(VisionEventsSink(config, client), [crowded])[0], Delivered)
        crowded_event = server.events[crowded.event_id]
    root = tmp_path_factory.mktemp("bundles")
    send_in_order(BundleSink(BundleSinkConfig(type="bundle", dir=root / "a", use_case=USE_CASE)), [record])
    send_in_order(BundleSink(BundleSinkConfig(type="bundle", dir=root / "b")), [record])
    send_in_order(BundleSink(BundleSinkConfig(type="bundle", dir=root / "c")), [crowded])
    name, bundle, members = read_bundle(root / "a")
    yield Sent(record, event, requests, fields, uploads, bundle, members, name,
               read_bundle(root / "b")[1], crowded_event, read_bundle(root / "c")[1])


def _is_uuid4(value: object) -> bool:
    return isinstance(value, str) and uuid.UUID(value).version == 4


def _utc(value: str) -> bool:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).utcoffset() == timedelta(0)


def _centre_boxes(dets: list[dict[str, Any]]) -> bool:
    # The reference: cx = x1 + w/2, cy = y1 + h/2, w = |x2 - x1|, h = |y2 - y1|, in pixels;
    # confidence clamped to [0, 1].
    expected = [(130.0, 150.0, 60.0, 200.0, 0.91), (20.0, 40.0, 20.0, 40.0, 1.0)]
    got = [(d["x"], d["y"], d["width"], d["height"], d["confidence"]) for d in dets]
    return got == expected and [d["class"] for d in dets] == ["person", "helmet"]


def _bundle_image_refs(sent: Sent) -> bool:
    image = sent.bundle["images"][0]
    refs = [image["file"], image["inputFile"]]
    return all(ref.startswith("images/") and ref.endswith(".jpg") and uuid.UUID(ref[7:-4])
               for ref in refs) and sorted(sent.bundle_members) == sorted(["payload.json", *refs])


@dataclass(frozen=True)
class Row:
    field: str
    reference: str  # what Roboflow's client sends
    ours: str  # "same", or how and why we differ
    check: Callable[[Sent], bool]  # holds for what our sink sent


ROWS = [
    # --- the request -------------------------------------------------------------------
    Row("Authorization", "Bearer <key> on every request", "same",
        lambda s: {h.get("Authorization") for _, h in s.requests} == {f"Bearer {API_KEY}"}),
    Row("upload path", "POST {api_url}/vision-events/upload", "same",
        lambda s: [p for p, _ in s.requests].count("/vision-events/upload") == 2),
    Row("upload field", "multipart `file` (JPEG)", "same, plus the optional `name`",
        lambda s: all("file" in f and set(f) <= {"file", "name"} for f in s.upload_fields)
        and all(data[:2] == b"\xff\xd8" for data in s.uploads.values())),
    Row("upload answer", "reads `sourceId`", "same",
        lambda s: s.event["images"][0]["sourceId"] in s.uploads),
    Row("create path", "POST {api_url}/vision-events, one event per request",
        "same for one event; up to 100 per POST /vision-events/batch",
        lambda s: [p for p, _ in s.requests][-1] == "/vision-events"),
    Row("eventId", "uuid4 made by the client", "same (made when the event is accepted, "
        "so every resend carries it)",
        lambda s: _is_uuid4(s.event["eventId"]) and s.event["eventId"] == s.record.event_id),
    Row("eventType", "the block's event type", "same",
        lambda s: s.event["eventType"] == "safety_alert"),
    Row("useCaseId", "the configured use case", "same", lambda s: s.event["useCaseId"] == USE_CASE),
    Row("timestamp", "ISO-8601 UTC", "same (capture time, milliseconds, Z)",
        lambda s: _utc(s.event["timestamp"]) and s.event["timestamp"].endswith(".250Z")),
    Row("deviceId / streamId", "not sent", "sent: device_id and camera.id",
        lambda s: (s.event["deviceId"], s.event["streamId"]) == ("edge-box-07", "dock-3")),
    Row("images[0].sourceId", "the shown (annotated) image", "same (the snapshot)",
        lambda s: s.uploads[s.event["images"][0]["sourceId"]] == s.record.images[0]),
    Row("images[0].inputSourceId", "the raw input image", "same, with upload_input_image",
        lambda s: s.uploads[s.event["images"][0]["inputSourceId"]] == s.record.images[1]),
    Row("images[0].label", '"workflow"', 'differs: "snapshot", naming what the picture is',
        lambda s: s.event["images"][0]["label"] == "snapshot"),
    Row("objectDetections", "{class, x, y, width, height, confidence}: centre and size in "
        "pixels, confidence clamped to [0, 1]", "same",
        lambda s: _centre_boxes(s.event["images"][0]["objectDetections"])),
    Row("eventData", "camelCase keys of the type, left out when empty", "same "
        "(never empty for our types)",
        lambda s: s.event["eventData"] == {"alertType": "zone_intrusion", "severity": "high",
                                           "description": "person #4 entered lane",
                                           "externalId": "ticket-42"}),
    Row("customMetadata", "left out when empty", "same; holds rule_id, zone, track_id, reason",
        lambda s: s.event["customMetadata"]["rule_id"] == "lane-intrusion"
        and s.event["customMetadata"]["track_id"] == 4),
    Row("displayImagePosition", "0 when there are images", "differs: not sent (not in the "
        "API docs); images[0] is the annotated snapshot",
        lambda s: "displayImagePosition" not in s.event),
    # --- the bundle --------------------------------------------------------------------
    Row("bundle name", "event_<UTC timestamp>_<eventId>.tar.gz", "same",
        lambda s: s.bundle_name == f"event_20250501T120000Z_{s.record.event_id}.tar.gz"),
    Row("bundleFormatVersion", "1", "same", lambda s: s.bundle["bundleFormatVersion"] == 1),
    Row("payload.json", "the POST body with file references", "same",
        lambda s: {k: v for k, v in s.bundle.items() if k not in ("bundleFormatVersion",
                                                                  "images")}
        == {k: v for k, v in s.event.items() if k != "images"}),
    Row("images[].file / inputFile", "images/<uuid4>.jpg members of the archive", "same",
        _bundle_image_refs),
    Row("bundle useCaseId", "only when configured", "same",
        lambda s: s.bundle["useCaseId"] == USE_CASE
        and "useCaseId" not in s.bundle_without_use_case),
    Row("annotation lists", "at most 1000 each (bundle)", "same, in the bundle and the "
        "request: the 1000 most confident; customMetadata.detections_cut counts the rest",
        lambda s: all(len(p["images"][0]["objectDetections"]) == 1000
                      and p["customMetadata"]["detections_cut"] == 500
                      for p in (s.crowded_bundle, s.crowded_event))),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.field for row in ROWS])
def test_contract_row(row: Row, sent: Sent) -> None:
    assert row.check(sent), f"{row.field}: reference {row.reference!r}; ours {row.ours!r}"
