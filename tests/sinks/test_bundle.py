"""The bundle sink read back against the v1 format: its limits on size and detections, and
the use case it names only when it has one."""

from __future__ import annotations

import json
import os
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from support import (
    crowded_record,
    make_record,
    with_raw_frame,
)
from support.outcomes import send_in_order
from support.vision_events_server import validate_event

from streamer.config.models import BundleSinkConfig
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord
from streamer.events.sink_contract import Delivered, Paused, Retry
from streamer.sinks.bundle import MAX_BUNDLE_BYTES, BundleSink

pytestmark = [pytest.mark.integration, pytest.mark.system]


def test_bundle_v1_read_back_matches_the_documented_format(tmp_path: Path) -> None:
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "usb", use_case="site-safety"))
    record = with_raw_frame(make_record())
    assert [isinstance(o, Delivered) for o in send_in_order(sink, [record])] == [True]
    assert [isinstance(o, Delivered) for o in send_in_order(sink, [record])] == [True]  # a resend overwrites
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
    (outcome,) = send_in_order(sink, [EventRecord(base.event_id, base.payload, [noise], 1.0, "r")])
    assert not isinstance(outcome, Delivered) and not isinstance(outcome, (Retry, Paused)) and "25 MiB" in outcome.reason
    assert list((tmp_path / "usb").iterdir()) == []


def read_bundle_payload(path: Path) -> dict[str, Any]:
    with tarfile.open(path, "r:gz") as archive:
        return json.load(archive.extractfile("payload.json"))  # type: ignore[arg-type]


def test_bundle_without_use_case_has_no_use_case_id(tmp_path: Path) -> None:
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "usb"))
    record = make_record()
    assert isinstance(send_in_order(sink, [record])[0], Delivered)
    (path,) = (tmp_path / "usb").iterdir()
    payload = read_bundle_payload(path)
    assert "useCaseId" not in payload  # the uploader supplies it; none is made up
    assert payload["eventId"] == record.event_id and payload["bundleFormatVersion"] == 1


def test_bundle_with_1500_detections_holds_the_1000_most_confident(tmp_path: Path) -> None:
    sink = BundleSink(BundleSinkConfig(type="bundle", dir=tmp_path / "usb", use_case="site-safety"))
    record = crowded_record(1500)
    assert isinstance(send_in_order(sink, [record])[0], Delivered)
    (path,) = (tmp_path / "usb").iterdir()
    payload = read_bundle_payload(path)
    kept = payload["images"][0]["objectDetections"]
    assert len(kept) == 1000 and min(d["confidence"] for d in kept) > 0.33
    assert payload["customMetadata"]["detections_cut"] == 500
    assert payload["customMetadata"]["rule_id"] == "lane-intrusion"  # the rest is kept
    assert payload["useCaseId"] == "site-safety"
