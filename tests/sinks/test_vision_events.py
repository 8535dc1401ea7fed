"""VisionEventsSink against a real local Vision Events server: no mocked HTTP anywhere."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from support import API_KEY, USE_CASE, crowded_record, make_record, tiny_jpeg
from support.outcomes import send_in_order
from support.vision_events_server import (
    Delay,
    Drop,
    Pass,
    Status,
    VisionEventsServer,
    parse_multipart,
)

from streamer.config.models import VisionEventsSinkConfig
from streamer.events.record import EventRecord
from streamer.events.sink_contract import Dead, Delivered, Paused, Retry
from streamer.sinks.http import parse_retry_after
from streamer.sinks.vision_events import VisionEventsSink

pytestmark = pytest.mark.integration







@pytest.fixture
def server() -> Iterator[VisionEventsServer]:
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE, "other")) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def make_sink(
    server: VisionEventsServer,
    client: httpx.Client,
    *,
    api_key: str = API_KEY,
    timeout_s: float = 2.0,
    trailing_slash: bool = False,
    **extra: Any,
) -> VisionEventsSink:
    config = VisionEventsSinkConfig(
        type="vision_events",
        api_url=server.url + ("/" if trailing_slash else ""),
        api_key=api_key,
        use_case=USE_CASE,
        timeout_s=timeout_s,
        **extra,
    )
    return VisionEventsSink(config, client)


# --- delivery --------------------------------------------------------------------------


def test_delivered_event_keeps_every_field_and_points_at_uploaded_jpegs(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    sink = make_sink(server, client, trailing_slash=True, workflow_id="wf-1")
    record = make_record(n_images=2)
    original_payload = {**record.payload, "images": [dict(i) for i in record.payload["images"]]}

    [outcome] = send_in_order(sink, [record])

    assert isinstance(outcome, Delivered) and not outcome.duplicate
    stored = server.events[record.event_id]
    assert stored["useCaseId"] == USE_CASE and stored["workflowId"] == "wf-1"
    for key in ("eventId", "eventType", "timestamp", "deviceId", "streamId", "eventData",
                "customMetadata"):
        assert stored[key] == record.payload[key], key
    for i, image in enumerate(stored["images"]):
        assert server.uploads[image["sourceId"]] == record.images[i]
        assert server.upload_names[image["sourceId"]] == f"{record.event_id}_{i}.jpg"
        assert {k: v for k, v in image.items() if k != "sourceId"} == record.payload["images"][i]
    # The record is shared with other sinks: it must keep its sourceId-free form.
    assert record.payload == original_payload
    assert server.paths() == ["/vision-events/upload"] * 2 + ["/vision-events"]
    assert server.post_counts == {record.event_id: 1}
    # The advertised url serves the very bytes uploaded.
    source_id = stored["images"][0]["sourceId"]
    assert client.get(f"{server.url}/images/{source_id}").content == record.images[0]


def test_event_without_images_posts_without_uploading(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    record = make_record(n_images=0)
    [outcome] = send_in_order(make_sink(server, client), [record])
    assert isinstance(outcome, Delivered)
    assert server.paths() == ["/vision-events"]
    assert server.events[record.event_id]["images"] == []


def test_batch_gives_one_outcome_per_event(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    good, bad, also_good = make_record(), make_record(eventType="nonsense"), make_record()
    answer = make_sink(server, client).send([good, bad, also_good])
    assert set(answer) == {good.event_id, bad.event_id, also_good.event_id}
    outcomes = [answer[record.event_id] for record in (good, bad, also_good)]
    assert [isinstance(o, Delivered) for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1], Dead) and "eventType" in outcomes[1].reason
    assert set(server.events) == {good.event_id, also_good.event_id}


# --- failures --------------------------------------------------------------------------


def test_wrong_key_is_kept_for_retry_and_never_shown(
    server: VisionEventsServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "wrong-key-5f3a9c1e"
    sink = make_sink(server, client, api_key=wrong_key)
    caplog.set_level(logging.DEBUG, logger="streamer")

    outcomes = send_in_order(sink, [make_record(), make_record()])

    assert all(not isinstance(o, Delivered) and isinstance(o, (Retry, Paused)) for o in outcomes)
    assert "HTTP 401: the API key was refused" in outcomes[0].reason
    for outcome in outcomes:
        assert wrong_key not in outcome.reason
    assert wrong_key not in caplog.text and API_KEY not in caplog.text
    # A refused key refuses every event: the second one is not sent at all.
    assert server.paths() == ["/vision-events/upload"]
    assert server.events == {}


def test_server_error_then_retry_delivers_once_without_reuploading(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    sink = make_sink(server, client)
    record = make_record()
    server.script(Pass(), Status(500))  # the upload succeeds, the event POST fails

    [first] = send_in_order(sink, [record])
    [second] = send_in_order(sink, [record])

    assert not isinstance(first, Delivered) and isinstance(first, (Retry, Paused)) and first.reason == "HTTP 500"
    assert isinstance(second, Delivered)
    assert server.post_counts == {record.event_id: 1}
    assert len(server.uploads) == 1, "the retry must reuse the cached sourceId"
    assert server.paths() == ["/vision-events/upload", "/vision-events", "/vision-events"]


def test_failed_upload_is_retried_and_only_missing_images_are_uploaded(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    sink = make_sink(server, client)
    record = make_record(n_images=2)
    server.script(Pass(), Status(503))  # image 0 uploads, image 1 does not

    [first] = send_in_order(sink, [record])
    [second] = send_in_order(sink, [record])

    assert isinstance(first, (Retry, Paused)) and "upload of image 1" in first.reason and "503" in first.reason
    assert isinstance(second, Delivered)
    assert len(server.uploads) == 2
    stored_ids = [image["sourceId"] for image in server.events[record.event_id]["images"]]
    assert [server.uploads[s] for s in stored_ids] == record.images


def test_invalid_event_is_final_with_the_servers_reason(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    record = make_record(customMetadata={"bad/key": "x"})
    [outcome] = send_in_order(make_sink(server, client), [record])
    assert not isinstance(outcome, Delivered) and isinstance(outcome, Dead)
    assert outcome.reason.startswith("HTTP 400: ")
    assert "customMetadata" in outcome.reason and "bad/key" in outcome.reason
    assert server.events == {}


def test_images_mismatch_is_final(server: VisionEventsServer, client: httpx.Client) -> None:
    record = make_record(n_images=1)
    broken = EventRecord(record.event_id, record.payload, images=[], rule_id="r")
    [outcome] = send_in_order(make_sink(server, client), [broken])
    assert not isinstance(outcome, Delivered) and isinstance(outcome, Dead) and "images" in outcome.reason
    assert server.requests == []


def test_server_down_is_retryable_and_recovers_on_the_same_port(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    sink = make_sink(server, client)
    port = server.port
    # Open a keep-alive connection first, so the stop must also cut pooled connections.
    assert isinstance(send_in_order(sink, [make_record()])[0], Delivered)
    server.stop()

    outcomes = send_in_order(sink, [make_record(), make_record()])

    assert all(not isinstance(o, Delivered) and isinstance(o, (Retry, Paused)) for o in outcomes)
    assert outcomes[0].reason == "connection refused"
    assert outcomes[1].reason == "connection refused"

    server.start()
    assert server.port == port
    records = [make_record(), make_record()]
    assert all(isinstance(o, Delivered) for o in send_in_order(sink, records))
    assert all(server.post_counts[r.event_id] == 1 for r in records)


@pytest.mark.parametrize(
    ("retry_after", "expected_s"),
    [(2, 2.0), ("0", 0.0)],
)
def test_rate_limit_honours_retry_after_seconds(
    server: VisionEventsServer, client: httpx.Client, retry_after: Any, expected_s: float
) -> None:
    server.script(Status(429, retry_after=retry_after))
    [outcome] = send_in_order(make_sink(server, client), [make_record(n_images=0)])
    assert not isinstance(outcome, Delivered) and isinstance(outcome, (Retry, Paused)) and outcome.reason == "HTTP 429"
    assert outcome.after_s == expected_s


def test_retry_after_as_http_date(server: VisionEventsServer, client: httpx.Client) -> None:
    import time

    server.script(Status(503, retry_after=formatdate(time.time() + 30, usegmt=True)))
    [outcome] = send_in_order(make_sink(server, client), [make_record(n_images=0)])
    assert isinstance(outcome, (Retry, Paused)) and outcome.reason == "HTTP 503"
    assert outcome.after_s is not None and 25 <= outcome.after_s <= 31


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past dates wait 0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now_s=1445412470.0) == 10.0


def test_slow_server_times_out_and_is_retryable(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    server.script(Delay(1.5))
    [outcome] = send_in_order(make_sink(server, client, timeout_s=0.3), [make_record(n_images=0)])
    assert not isinstance(outcome, Delivered) and isinstance(outcome, (Retry, Paused))
    assert "timed out" in outcome.reason


def test_dropped_connection_is_retryable(server: VisionEventsServer, client: httpx.Client) -> None:
    server.script(Drop())
    record = make_record()
    [first] = send_in_order(make_sink(server, client), [record])
    assert not isinstance(first, Delivered) and isinstance(first, (Retry, Paused))
    assert server.requests[0] == ("POST", "/vision-events/upload", 0)


@pytest.mark.parametrize("code", [408, 502, 504])
def test_other_transient_statuses_are_retryable(
    server: VisionEventsServer, client: httpx.Client, code: int
) -> None:
    server.script(Status(code))
    [outcome] = send_in_order(make_sink(server, client), [make_record(n_images=0)])
    assert isinstance(outcome, (Retry, Paused)) and outcome.reason == f"HTTP {code}" and outcome.after_s is None


def test_forbidden_is_kept(server: VisionEventsServer, client: httpx.Client) -> None:
    server.script(Status(403))
    [outcome] = send_in_order(make_sink(server, client), [make_record(n_images=0)])
    assert isinstance(outcome, (Retry, Paused)) and isinstance(outcome, Paused)
    assert outcome.reason == "HTTP 403: the API key was refused; fix the key"


def test_permanent_reason_is_bounded_and_redacted(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    server.script(Status(422, body=f"echo {API_KEY} " + "x" * 500))
    [outcome] = send_in_order(make_sink(server, client), [make_record(n_images=0)])
    assert isinstance(outcome, Dead) and outcome.reason.startswith("HTTP 422: ")
    assert API_KEY not in outcome.reason
    assert len(outcome.reason) <= len("HTTP 422: ") + 200


def test_close_leaves_the_runtimes_client_open(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    sink = make_sink(server, client)
    sink.close()
    assert not client.is_closed
    assert sink.name == "vision_events"


# --- answers the docs do not show (issue 20) ------------------------------------------


@pytest.fixture
def strict_server() -> Iterator[VisionEventsServer]:
    """A server that answers 409 to an eventId it already holds, instead of overwriting."""
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,),
                            conflict_on_known=True) as srv:
        yield srv


def test_409_for_an_event_the_server_holds_is_delivered(
    strict_server: VisionEventsServer, client: httpx.Client
) -> None:
    record = make_record()
    assert isinstance(send_in_order(make_sink(strict_server, client), [record])[0], Delivered)
    # A new run (no cached source ids) sends it again, as after a kill before the ack.
    [again] = send_in_order(make_sink(strict_server, client), [record])
    assert isinstance(again, Delivered) and not isinstance(again, (Retry, Paused))
    assert strict_server.conflicts == 1 and strict_server.post_counts == {record.event_id: 1}


def test_batch_with_one_known_event_is_split_and_every_event_delivered(
    strict_server: VisionEventsServer, client: httpx.Client
) -> None:
    known = make_record()
    assert isinstance(send_in_order(make_sink(strict_server, client), [known])[0], Delivered)
    fresh = [make_record() for _ in range(3)]
    strict_server.requests.clear()

    outcomes = send_in_order(make_sink(strict_server, client), [fresh[0], known, *fresh[1:]])

    assert [isinstance(o, Delivered) for o in outcomes] == [True] * 4
    posts = [(p, code) for _, p, code in strict_server.requests if p != "/vision-events/upload"]
    assert posts == [("/vision-events/batch", 409), ("/vision-events", 201),
                     ("/vision-events", 409), ("/vision-events", 201), ("/vision-events", 201)]
    assert all(strict_server.post_counts[r.event_id] == 1 for r in [known, *fresh])


@pytest.mark.parametrize("code", [404, 409, 413])
def test_batch_refused_with_any_final_4xx_is_sent_one_at_a_time(
    server: VisionEventsServer, client: httpx.Client, code: int
) -> None:
    records = [make_record() for _ in range(3)]
    server.script(Pass(), Pass(), Pass(), Status(code))  # three uploads, then the batch

    outcomes = send_in_order(make_sink(server, client), records)

    assert [isinstance(o, Delivered) for o in outcomes] == [True] * 3
    assert [p for p in server.paths() if p != "/vision-events/upload"] == (
        ["/vision-events/batch"] + ["/vision-events"] * 3)


def test_2xx_batch_answer_is_checked_and_unconfirmed_events_stay_pending(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    records = [make_record(n_images=0) for _ in range(3)]
    sink = make_sink(server, client)
    server.script(Status(201, body={"created": 1, "eventIds": [records[1].event_id]}))
    outcomes = send_in_order(sink, records)
    assert [(isinstance(o, Delivered), isinstance(o, (Retry, Paused))) for o in outcomes] == [(False, True), (True, False), (False, True)]
    assert "confirmed 1 of 3" in outcomes[0].reason
    # A 2xx that is no receipt at all (a portal page) confirms nothing; a count that
    # matches confirms all.
    server.script(Status(200, body="<html>welcome</html>"))
    assert [isinstance(o, Delivered) for o in send_in_order(sink, records)] == [False] * 3
    server.script(Status(201, body={"created": 3}))
    assert [isinstance(o, Delivered) for o in send_in_order(sink, records)] == [True] * 3


def test_2xx_single_answer_is_checked_like_a_batch(server: VisionEventsServer, client: httpx.Client) -> None:
    """One event sent alone (issue 28): a captive portal's 200 page marked 4 of 4 delivered."""
    sink = make_sink(server, client)
    records = [make_record(n_images=1) for _ in range(4)]
    for record in records:
        server.script(Pass(), Status(200, body="<!doctype html><html>Welcome to Hotel Wi-Fi</html>"))
        [outcome] = send_in_order(sink, [record])
        assert (isinstance(outcome, Delivered), isinstance(outcome, (Retry, Paused))) == (False, True)
        assert "without created/eventIds" in outcome.reason and "Hotel Wi-Fi" in outcome.reason
    # A 2xx naming another event is no receipt either; the real answer is.
    server.script(Status(201, body={"created": 1, "eventIds": ["someone-else"]}))
    assert not isinstance(send_in_order(sink, [records[0]])[0], Delivered)
    assert all(isinstance(send_in_order(sink, [record])[0], Delivered) for record in records)
    assert set(server.events) == {record.event_id for record in records}


def test_more_than_1000_detections_keep_the_1000_most_confident(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    record = crowded_record(1500)
    [outcome] = send_in_order(make_sink(server, client), [record])
    assert isinstance(outcome, Delivered), outcome.reason
    sent = server.events[record.event_id]
    kept = sent["images"][0]["objectDetections"]
    assert len(kept) == 1000
    assert min(d["confidence"] for d in kept) > 0.33  # the 500 least confident are gone
    assert sent["customMetadata"]["detections_cut"] == 500
    assert len(record.payload["images"][0]["objectDetections"]) == 1500  # stored as is


def test_uploads_and_event_posts_have_their_own_timeouts(
    server: VisionEventsServer, client: httpx.Client
) -> None:
    server.script(Delay(1.5))
    [upload] = send_in_order(make_sink(server, client, timeout_s=5, upload_timeout_s=0.3), [make_record()])
    assert isinstance(upload, (Retry, Paused)) and upload.reason.startswith("upload of image 0: timed out after 0.3 s")
    server.script(Pass(), Delay(1.5))
    [post] = send_in_order(make_sink(server, client, timeout_s=0.3, upload_timeout_s=5), [make_record()])
    assert isinstance(post, (Retry, Paused)) and post.reason.startswith("timed out after 0.3 s")


# --- the test server's own contract checks ---------------------------------------------


def _post(server: VisionEventsServer, path: str, body: Any, key: str = API_KEY) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={"Authorization": f"Bearer {key}"})


def _valid_event(server: VisionEventsServer) -> dict[str, Any]:
    upload = httpx.post(
        server.url + "/vision-events/upload",
        files={"file": ("a.jpg", tiny_jpeg(), "image/jpeg")},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert upload.status_code == 201 and upload.json()["success"] is True
    payload = dict(make_record().payload)
    payload["useCaseId"] = USE_CASE
    payload["images"] = [{**payload["images"][0], "sourceId": upload.json()["sourceId"]}]
    return payload


def test_server_accepts_a_valid_event(server: VisionEventsServer) -> None:
    event = _valid_event(server)
    response = _post(server, "/vision-events", event)
    assert response.status_code == 201
    assert response.json() == {"created": 1, "eventIds": [event["eventId"]]}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("eventType"), "eventType"),
        (lambda e: e.update(eventType="alarm"), "eventType"),
        (lambda e: e.update(eventId="not-a-uuid"), "eventId"),
        (lambda e: e.update(useCaseId="unknown-use-case"), "useCaseId"),
        (lambda e: e.update(timestamp="yesterday"), "timestamp"),
        (lambda e: e.update(timestamp="2025-05-01T12:00:00"), "timestamp"),
        (lambda e: e.update(deviceId=7), "deviceId"),
        (lambda e: e["images"][0].update(sourceId="never-uploaded"), "images[0].sourceId"),
        (lambda e: e["images"][0]["objectDetections"][0].update(confidence=1.5), "confidence"),
        (lambda e: e["images"][0]["objectDetections"][0].pop("width"), "width"),
        (lambda e: e["eventData"].update(severity="critical"), "eventData.severity"),
        (lambda e: e["eventData"].pop("alertType"), "eventData.alertType"),
        (lambda e: e["eventData"].update(externalId="x" * 1001), "eventData.externalId"),
        (lambda e: e.update(customMetadata={f"k{i}": "v" for i in range(101)}), "customMetadata"),
        (lambda e: e.update(customMetadata={"note": "v" * 1001}), "customMetadata.note"),
        (lambda e: e.update(customMetadata={"": "v"}), "customMetadata"),
        (lambda e: e.update(colour="red"), "colour"),
    ],
)
def test_server_rejects_contract_breaks_naming_the_field(
    server: VisionEventsServer, mutate: Any, field: str
) -> None:
    event = _valid_event(server)
    first_image = event["images"][0]
    event["images"] = [
        {**first_image, "objectDetections": [dict(first_image["objectDetections"][0])]}
    ]
    event["eventData"] = dict(event["eventData"])
    mutate(event)
    response = _post(server, "/vision-events", event)
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert server.events == {}


@pytest.mark.parametrize(
    ("event_type", "data", "ok"),
    [
        ("inventory_count", {"location": "dock", "itemCount": 3, "itemType": "pallet"}, True),
        ("inventory_count", {"location": "dock", "itemCount": 2.5, "itemType": "pallet"}, False),
        ("quality_check", {"result": "pass"}, True),
        ("quality_check", {"result": "maybe"}, False),
        ("custom", {"value": "anything", "externalId": "ext-1"}, True),
        ("custom", {}, False),
        ("operator_feedback", {"relatedEventId": str(uuid.uuid4()), "feedback": "correct"}, True),
        ("operator_feedback", {"relatedEventId": str(uuid.uuid4()), "feedback": "meh"}, False),
    ],
)
def test_server_checks_event_data_per_type(
    server: VisionEventsServer, event_type: str, data: dict[str, Any], ok: bool
) -> None:
    event = {**_valid_event(server), "eventType": event_type, "eventData": data}
    assert _post(server, "/vision-events", event).status_code == (201 if ok else 400)


def test_server_batch_limits_and_atomicity(server: VisionEventsServer) -> None:
    events = [{**_valid_event(server), "eventId": str(uuid.uuid4())} for _ in range(3)]
    response = _post(server, "/vision-events/batch", {"events": events})
    assert response.status_code == 201
    assert response.json() == {"created": 3, "eventIds": [e["eventId"] for e in events]}

    too_many = [{**events[0], "eventId": str(uuid.uuid4())} for _ in range(101)]
    assert _post(server, "/vision-events/batch", {"events": too_many}).status_code == 400

    one_bad = [{**events[0], "eventId": str(uuid.uuid4())}, {**events[0], "eventType": "x"}]
    response = _post(server, "/vision-events/batch", {"events": one_bad})
    assert response.status_code == 400 and "events[1].eventType" in response.json()["error"]
    assert len(server.events) == 3


def test_server_auth_and_upload_checks(server: VisionEventsServer) -> None:
    assert _post(server, "/vision-events", {}, key="nope").status_code == 401
    assert httpx.post(server.url + "/vision-events", json={}).status_code == 401
    not_jpeg = httpx.post(
        server.url + "/vision-events/upload",
        files={"file": ("a.jpg", b"\x89PNG\r\n\x1a\n", "image/jpeg")},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert not_jpeg.status_code == 400 and "JPEG" in not_jpeg.json()["error"]
    no_file = httpx.post(
        server.url + "/vision-events/upload",
        data={"name": "x"},
        files={"other": ("a.jpg", tiny_jpeg(), "image/jpeg")},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]


def test_server_reposting_an_event_overwrites_and_counts(server: VisionEventsServer) -> None:
    event = _valid_event(server)
    assert _post(server, "/vision-events", event).status_code == 201
    assert _post(server, "/vision-events", {**event, "streamId": "dock-4"}).status_code == 201
    assert len(server.events) == 1 and server.events[event["eventId"]]["streamId"] == "dock-4"
    assert server.post_counts[event["eventId"]] == 2


def test_parse_multipart_keeps_binary_bytes() -> None:
    data = bytes(range(256)) * 4 + b"\r\n--not-the-boundary\r\n\r\n"
    request = httpx.Request(
        "POST", "http://x/", files={"file": ("f.jpg", data, "image/jpeg")}, data={"name": "n"}
    )
    body = request.read()
    fields = parse_multipart(request.headers["Content-Type"], body)
    assert fields["file"] == ("f.jpg", data)
    assert fields["name"] == (None, b"n")
