"""The other sinks through real boundaries: a bundle read back against the v1 format, a
webhook receiver checking the HMAC, a real mosquitto broker, and the raw frame upload."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from conftest import (
    API_KEY,
    crowded_record,
    free_port,
    make_record,
    run_in_process,
    scene,
    tiny_jpeg,
    wait_for,
    walker,
)
from mqtt_helpers import mosquitto
from vision_events_server import VisionEventsServer, validate_event
from webhook_helpers import webhook_receiver

from streamer.config.models import BundleSinkConfig, MqttSinkConfig, WebhookSinkConfig
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord
from streamer.sinks.bundle import MAX_BUNDLE_BYTES, BundleSink
from streamer.sinks.mqtt import MqttSink, make_client
from streamer.sinks.webhook import WebhookSink

pytestmark = [pytest.mark.integration, pytest.mark.system]


def with_raw_frame(record: EventRecord) -> EventRecord:
    """The record as the writer stores it with upload_input_image: snapshot + raw frame."""
    payload = json.loads(json.dumps(record.payload))
    payload["images"][0][INPUT_IMAGE_KEY] = 1
    return EventRecord(record.event_id, payload, [record.images[0], tiny_jpeg(99)],
                       record.created_ts, record.rule_id)


# --- bundle ---------------------------------------------------------------------------


def test_bundle_v1_read_back_matches_the_documented_format(tmp_path: Path) -> None:
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "usb", use_case="site-safety"))
    record = with_raw_frame(make_record())
    assert [o.ok for o in sink.send([record])] == [True]
    assert [o.ok for o in sink.send([record])] == [True]  # a resend overwrites
    (path,) = list((tmp_path / "usb").iterdir())  # no temp file left behind either
    # event_<UTC timestamp>_<eventId>.tar.gz, the timestamp being the event's.
    assert path.name == f"event_20250501T120000Z_{record.event_id}.tar.gz"
    assert path.stat().st_size <= MAX_BUNDLE_BYTES
    with tarfile.open(path, "r:gz") as archive:
        names = archive.getnames()
        payload = json.load(archive.extractfile("payload.json"))  # type: ignore[arg-type]
        (image,) = payload["images"]
        snapshot = archive.extractfile(image["file"]).read()  # type: ignore[union-attr]
        raw = archive.extractfile(image["inputFile"]).read()  # type: ignore[union-attr]
    assert payload["bundleFormatVersion"] == 1
    assert sorted(names) == sorted(["payload.json", image["file"], image["inputFile"]])
    for ref in (image["file"], image["inputFile"]):
        folder, name = ref.split("/")
        assert folder == "images" and name.endswith(".jpg") and uuid.UUID(name[:-4])
    assert snapshot == record.images[0] and raw == record.images[1]
    assert "sourceId" not in image and INPUT_IMAGE_KEY not in image
    # Apart from file references and the version, it is the POST body the API takes.
    body = {k: v for k, v in payload.items() if k != "bundleFormatVersion"}
    body["images"] = [{k: v for k, v in image.items() if k not in ("file", "inputFile")}
                      | {"sourceId": "s", "inputSourceId": "i"}]
    validate_event(body, {"site-safety"}, {"s": b"", "i": b""})


def test_bundle_over_25_mib_is_dead_with_the_reason(tmp_path: Path) -> None:
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "usb"))
    base = make_record()
    noise = os.urandom(26 * 1024 * 1024)  # incompressible, so the archive stays big
    (outcome,) = sink.send([EventRecord(base.event_id, base.payload, [noise], 1.0, "r")])
    assert not outcome.ok and not outcome.retry and "25 MiB" in outcome.reason
    assert list((tmp_path / "usb").iterdir()) == []


def read_bundle_payload(path: Path) -> dict[str, Any]:
    with tarfile.open(path, "r:gz") as archive:
        return json.load(archive.extractfile("payload.json"))  # type: ignore[arg-type]


def test_bundle_without_use_case_has_no_use_case_id(tmp_path: Path) -> None:
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "usb"))
    record = make_record()
    assert sink.send([record])[0].ok
    (path,) = (tmp_path / "usb").iterdir()
    payload = read_bundle_payload(path)
    assert "useCaseId" not in payload  # the uploader supplies it; none is made up
    assert payload["eventId"] == record.event_id and payload["bundleFormatVersion"] == 1


def test_bundle_with_1500_detections_holds_the_1000_most_confident(tmp_path: Path) -> None:
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "usb", use_case="site-safety"))
    record = crowded_record(1500)
    assert sink.send([record])[0].ok
    (path,) = (tmp_path / "usb").iterdir()
    payload = read_bundle_payload(path)
    kept = payload["images"][0]["objectDetections"]
    assert len(kept) == 1000 and min(d["confidence"] for d in kept) > 0.33
    assert payload["customMetadata"]["detections_cut"] == 500
    assert payload["customMetadata"]["rule_id"] == "lane-intrusion"  # the rest is kept
    assert payload["useCaseId"] == "site-safety"


# --- webhook --------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Any]:
    with webhook_receiver() as owner:
        yield owner


def test_webhook_signs_the_body_and_follows_the_retry_policy(receiver: Any) -> None:
    config = WebhookSinkConfig(type="webhook", url=receiver.url, secret="s3cret-hmac-key",
                               headers={"X-Site": "plant-2"})
    receiver.codes = [200, 503, 400]
    with httpx.Client() as client:
        sink = WebhookSink(config, client)
        records = [with_raw_frame(make_record()), make_record(), make_record()]
        first = sink.send(records[:1])
        later = sink.send(records[1:2]) + sink.send(records[2:])
    assert first[0].ok
    assert (later[0].ok, later[0].retry, later[0].reason) == (False, True, "HTTP 503")
    assert (later[1].ok, later[1].retry) == (False, False) and later[1].reason == "HTTP 400: no"
    headers, body, _ = receiver.received[0]
    expected = hmac.new(b"s3cret-hmac-key", body, hashlib.sha256).hexdigest()
    assert headers["X-Streamer-Signature"] == f"sha256={expected}"
    assert headers["X-Site"] == "plant-2"
    sent = json.loads(body)
    assert sent["eventId"] == records[0].event_id
    import base64

    assert base64.b64decode(sent["images"][0]["inputImageBase64"]) == records[0].images[1]
    assert INPUT_IMAGE_KEY not in sent["images"][0]


def test_webhook_refused_connection_is_kept(receiver: Any) -> None:
    port = free_port()
    config = WebhookSinkConfig(type="webhook", url=f"http://127.0.0.1:{port}/hook")
    with httpx.Client() as client:
        outcomes = WebhookSink(config, client).send([make_record(), make_record()])
    assert [(o.ok, o.retry) for o in outcomes] == [(False, True)] * 2


# A Slack-style URL: the token is the path, so the URL itself is a secret.
HOOK_TOKEN_PATH = "/services/T0A1B2C3D/B4E5F6G7H/q8R9s0T1u2V3w4X5y6Z7a8B9"


def test_webhook_redirect_pauses_and_nothing_reaches_the_new_place(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    with webhook_receiver() as first, webhook_receiver() as second:
        first.codes = [302] * 3
        first.location = f"{second.base}{HOOK_TOKEN_PATH}"
        config = WebhookSinkConfig(type="webhook", url=first.base + HOOK_TOKEN_PATH,
                                   secret="s3cret-hmac-key")
        with httpx.Client() as client:
            outcomes = WebhookSink(config, client).send([make_record(), make_record()])
    assert [(o.ok, o.retry, o.paused) for o in outcomes] == [(False, True, True)] * 2
    assert outcomes[0].reason == f"url redirects to {second.base}/…; fix url"
    assert len(first.received) == 1  # the rest of the batch waits with the pause
    assert second.received == []  # never followed: no event, no signature went there
    assert "q8R9s0T1u2V3" not in streamer_log(caplog)


def streamer_log(caplog: Any) -> str:
    """What streamer's own loggers wrote (httpx's request log is off unless --verbose)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("streamer"))


def test_webhook_url_is_masked_in_reasons_repr_and_secrets(caplog: Any) -> None:
    from streamer.config.loader import parse_config
    from streamer.config.models import config_secrets
    from streamer.redact import redact

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{HOOK_TOKEN_PATH}"
    config = WebhookSinkConfig(type="webhook", url=url)
    caplog.set_level(logging.DEBUG)
    with httpx.Client() as client:
        sink = WebhookSink(config, client)
        (outcome,) = sink.send([make_record()])
    assert outcome.retry and outcome.reason.startswith(f"http://127.0.0.1:{port}/…: ")
    assert "q8R9s0T1u2V3" not in outcome.reason + repr(sink) + streamer_log(caplog)
    assert repr(sink) == f"WebhookSink(name='webhook', url='http://127.0.0.1:{port}/…')"
    # The runtime's redaction (logs, /api/status, events) masks the URL and its path.
    full = parse_config(
        "camera: {source: clip.mp4}\nmodels: [{id: m, kind: hog}]\n"
        f"sinks: [{{type: webhook, url: '{url}'}}]\n"
    )
    text = f"POST {url} failed; path {HOOK_TOKEN_PATH}"
    assert "q8R9s0T1u2V3" not in redact(text, config_secrets(full))


# --- mqtt -----------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """Debian's mosquitto on a free loopback port with its own config file."""
    port = free_port()
    with mosquitto(f"listener {port} 127.0.0.1\nallow_anonymous true", [port], tmp_path):
        yield port


def test_mqtt_publishes_qos1_and_keeps_events_while_the_broker_is_down(broker: int) -> None:
    import paho.mqtt.client as mqtt

    got: list[tuple[str, dict[str, Any], int]] = []
    subscribed = threading.Event()
    listener = make_client(mqtt)
    listener.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload), m.qos))
    listener.on_subscribe = lambda *a: subscribed.set()
    listener.connect("127.0.0.1", broker)
    listener.subscribe("streamer/#", qos=1)
    listener.loop_start()
    try:
        assert subscribed.wait(5)
        sink = MqttSink(MqttSinkConfig(type="mqtt", host="127.0.0.1", port=broker, timeout_s=3))
        records = [make_record() for _ in range(5)]
        assert all(o.ok for o in sink.send(records))
        wait_for(lambda: len(got) >= 5, 5, "5 messages at the subscriber")
        sink.close()
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert [payload["eventId"] for _, payload, _ in got] == [r.event_id for r in records]
    assert {topic for topic, _, _ in got} == {"streamer/edge-box-07/events"}
    assert {qos for _, _, qos in got} == {1}


def test_mqtt_broker_down_is_retryable() -> None:
    port = free_port()
    sink = MqttSink(MqttSinkConfig(type="mqtt", host="127.0.0.1", port=port, timeout_s=1))
    outcomes = sink.send([make_record()])
    assert not outcomes[0].ok and outcomes[0].retry and "cannot connect" in outcomes[0].reason
    sink.close()


# --- the raw frame, end to end ----------------------------------------------------------


def test_upload_input_image_sends_the_raw_frame_as_input_source(tmp_path: Path, video: Path) -> None:
    with VisionEventsServer(api_key=API_KEY, use_cases=("site-safety",)) as server:
        sink = {"type": "vision_events", "api_url": server.url, "api_key": API_KEY,
                "use_case": "site-safety", "upload_input_image": True}
        config = scene(tmp_path, video, walker(range(0, 40), x_start=200, x_step=10, y1=100), [sink])
        summary = run_in_process(config)
        assert summary.delivered == {"vision_events": 1}
        (event,) = server.events.values()
        (image,) = event["images"]
        snapshot = cv2.imdecode(np.frombuffer(server.uploads[image["sourceId"]], np.uint8), 1)
        raw = cv2.imdecode(np.frombuffer(server.uploads[image["inputSourceId"]], np.uint8), 1)
        assert snapshot.shape == raw.shape == (360, 640, 3)
        # The raw frame has no overlay: the snapshot differs from it where boxes are drawn.
        assert np.abs(snapshot.astype(int) - raw.astype(int)).max() > 100
