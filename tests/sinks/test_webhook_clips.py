"""Event clips over the network (issue 17), against real local servers: the webhook's
multipart body with its ``event`` and ``clip`` parts, signed as sent; Vision Events (images
only) gets the event at once, its metadata saying the clip stays on the box."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import supervision as sv
from support import API_KEY, USE_CASE, make_record
from support.clips import decoded_frames, make_mp4
from support.outcomes import send_in_order
from support.vision_events_server import VisionEventsServer, parse_multipart
from support.webhook import webhook_receiver

from streamer.config.models import EventSpec, VisionEventsSinkConfig, WebhookSinkConfig
from streamer.events.clips import ClipPlan, StoredClip
from streamer.events.outbox import Outbox
from streamer.events.sink_contract import Delivered
from streamer.events.writer import EventWriter
from streamer.rules.base import RuleEvent
from streamer.sinks.vision_events import VisionEventsSink
from streamer.sinks.webhook import WebhookSink
from streamer.source.frame import Frame

pytestmark = pytest.mark.integration

MP4 = make_mp4(1.0)


@pytest.fixture
def receiver() -> Iterator[Any]:
    with webhook_receiver() as owner:
        owner.received = []
        yield owner


def with_clip(state: str, mp4: bytes | None, **meta: Any) -> Any:
    record = make_record()
    return replace(record, stored_clip=StoredClip(record.event_id, state, time.time() - 1, mp4, meta))


def test_webhook_send_clip_posts_the_event_and_the_mp4_as_multipart_signed(receiver: Any) -> None:
    config = WebhookSinkConfig(type="webhook", url=receiver.url, secret="s3cret-hmac-key",
                               send_clip=True)
    ready = with_clip("ready", MP4, duration_s=1.0)
    failed = with_clip("failed", None, reason="encoder too slow")
    with httpx.Client() as client:
        sink = WebhookSink(config, client)
        assert sink.carries_clips
        outcomes = send_in_order(sink, [ready, failed, make_record()])
    assert [isinstance(o, Delivered) for o in outcomes] == [True, True, True]
    (h1, body1, _), (h2, body2, _), (h3, body3, _) = receiver.received
    expected = hmac.new(b"s3cret-hmac-key", body1, hashlib.sha256).hexdigest()
    assert h1["X-Streamer-Signature"] == f"sha256={expected}"  # the whole body, as sent
    parts = parse_multipart(h1["Content-Type"], body1)
    assert set(parts) == {"event", "clip"}
    event = json.loads(parts["event"][1])
    assert event["eventId"] == ready.event_id and event["customMetadata"]["clip"] == "attached"
    assert parts["clip"] == (f"{ready.event_id}.mp4", MP4)
    assert decoded_frames(parts["clip"][1]) == (10, 160, 120)
    # A failed clip: the event alone, still multipart, saying why.
    parts = parse_multipart(h2["Content-Type"], body2)
    assert set(parts) == {"event"}
    metadata = json.loads(parts["event"][1])["customMetadata"]
    assert (metadata["clip"], metadata["clip_missing"]) == ("missing", "encoder too slow")
    # An event that never had a clip: plain JSON as before.
    assert h3["Content-Type"] == "application/json" and json.loads(body3)["eventId"]


def test_webhook_without_send_clip_neither_waits_nor_sends_clips(receiver: Any) -> None:
    with httpx.Client() as client:
        sink = WebhookSink(WebhookSinkConfig(type="webhook", url=receiver.url), client)
        assert not sink.carries_clips
        [outcome] = send_in_order(sink, [with_clip("ready", MP4)])
    headers, body, _ = receiver.received[0]
    assert isinstance(outcome, Delivered) and headers["Content-Type"] == "application/json" and MP4 not in body


def test_vision_events_gets_the_event_at_once_saying_the_clip_is_on_the_box(tmp_path: Path) -> None:
    """The strict test server checks every field, customMetadata's value types too."""
    outbox = Outbox(tmp_path / "outbox.db")
    writer = EventWriter(outbox, ["vision_events"], "edge-box-07", "dock-3", lambda frame, event: frame.image)
    writer.start()
    event = RuleEvent("lane", 0.0, EventSpec(), sv.Detections.empty(), "person entered lane")
    frame = Frame(image=np.zeros((90, 160, 3), np.uint8), index=0, t_s=0.0, wall_ts=time.time())
    writer.submit(event, frame, event_id="6f1c1b36-5a55-4b8e-9d43-0f5cbd1f7e0a",
                  clip=ClipPlan(pre_s=5, post_s=5, annotated=True, due_ts=time.time() + 60))
    assert writer.stop()
    # Still recording: an images-only sink does not wait for it.
    batch = outbox.pending("vision_events")
    assert len(batch) == 1
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as server, httpx.Client() as client:
        sink = VisionEventsSink(VisionEventsSinkConfig(type="vision_events", api_url=server.url,
                                                       api_key=API_KEY, use_case=USE_CASE), client)
        assert not sink.carries_clips
        [outcome] = send_in_order(sink, batch)
        assert isinstance(outcome, Delivered), outcome.reason
        sent = server.events["6f1c1b36-5a55-4b8e-9d43-0f5cbd1f7e0a"]
    assert sent["customMetadata"]["clip"] == "on_box"
    assert (sent["customMetadata"]["clip_pre_s"], sent["customMetadata"]["clip_post_s"]) == (5, 5)
