"""The webhook sink against a real receiver: the body signed with HMAC, the retry policy, a
refused connection kept, a redirect paused, and a URL that is a secret masked everywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import (
    free_port,
    make_record,
    with_raw_frame,
)
from support.outcomes import send_in_order
from support.webhook import webhook_receiver

from streamer.config.models import WebhookSinkConfig
from streamer.events.record import INPUT_IMAGE_KEY
from streamer.events.sink_contract import Delivered, Paused, Retry
from streamer.sinks.webhook import WebhookSink

pytestmark = [pytest.mark.integration, pytest.mark.system]


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
        first = send_in_order(sink, records[:1])
        later = send_in_order(sink, records[1:2]) + send_in_order(sink, records[2:])
    assert isinstance(first[0], Delivered)
    assert (isinstance(later[0], Delivered), isinstance(later[0], (Retry, Paused)), later[0].reason) == (False, True, "HTTP 503")
    assert (isinstance(later[1], Delivered), isinstance(later[1], (Retry, Paused))) == (False, False) and later[1].reason == "HTTP 400: no"
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
        outcomes = send_in_order(WebhookSink(config, client), [make_record(), make_record()])
    assert [(isinstance(o, Delivered), isinstance(o, (Retry, Paused))) for o in outcomes] == [(False, True)] * 2


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
            outcomes = send_in_order(WebhookSink(config, client), [make_record(), make_record()])
    assert [(isinstance(o, Delivered), isinstance(o, (Retry, Paused)), isinstance(o, Paused)) for o in outcomes] == [(False, True, True)] * 2
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
        (outcome,) = send_in_order(sink, [make_record()])
    assert isinstance(outcome, (Retry, Paused)) and outcome.reason.startswith(f"http://127.0.0.1:{port}/…: ")
    assert "q8R9s0T1u2V3" not in outcome.reason + repr(sink) + streamer_log(caplog)
    assert repr(sink) == f"WebhookSink(name='webhook', url='http://127.0.0.1:{port}/…')"
    # The runtime's redaction (logs, /api/status, events) masks the URL and its path.
    full = parse_config(
        "camera: {source: clip.mp4}\nmodels: [{id: m, kind: hog}]\n"
        f"sinks: [{{type: webhook, url: '{url}'}}]\n"
    )
    text = f"POST {url} failed; path {HOOK_TOKEN_PATH}"
    assert "q8R9s0T1u2V3" not in redact(text, config_secrets(full))
