"""Webhook sink: each event POSTed as JSON, optionally signed with HMAC-SHA256.

The body is the Vision Events payload; with ``include_images`` each images entry carries
its JPEGs as base64. With a ``secret`` the hex HMAC-SHA256 of the exact body bytes goes in
``signature_header`` as ``sha256=<hex>``, so the receiver can check who sent it and that
nothing changed on the way. Same retry policy as Vision Events: 408/429/5xx, timeouts and
refused connections are retried (``Retry-After`` honoured), 401/403 pause the sink, any
other 4xx dead-letters the event with the answer.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from streamer.config.models import WebhookSinkConfig
from streamer.events.record import EventRecord
from streamer.redact import redact
from streamer.sinks.base import SendOutcome, json_body
from streamer.sinks.vision_events import parse_retry_after

_REASON_BODY_CHARS = 200


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex digest>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookSink:
    """POSTs one event per request to ``config.url``; the client is the runtime's."""

    def __init__(self, config: WebhookSinkConfig, client: httpx.Client) -> None:
        self.name = config.name
        self._config = config
        self._client = client
        self._secret = config.secret.get_secret_value() if config.secret else None

    def send(self, batch: list[EventRecord]) -> list[SendOutcome]:
        outcomes: list[SendOutcome] = []
        halted: SendOutcome | None = None
        for record in batch:
            if halted is not None:
                outcomes.append(SendOutcome(
                    record.event_id, ok=False, retry=True, reason=halted.reason,
                    retry_after_s=halted.retry_after_s, paused=halted.paused,
                ))
                continue
            outcome, server_wide = self._send_one(record)
            outcomes.append(outcome)
            if server_wide:
                halted = outcome
        return outcomes

    def _send_one(self, record: EventRecord) -> tuple[SendOutcome, bool]:
        """The outcome, and whether it speaks for the server (stop the batch)."""
        try:
            body = json_body(record, self._config.include_images)
        except (TypeError, ValueError) as exc:
            return SendOutcome(record.event_id, ok=False, retry=False, reason=str(exc)), False
        headers = {"Content-Type": "application/json", **self._config.headers}
        if self._secret:
            headers[self._config.signature_header] = sign(self._secret, body)
        try:
            response = self._client.post(
                self._config.url, content=body, headers=headers, timeout=self._config.timeout_s
            )
        except httpx.TimeoutException:
            reason = f"timed out after {self._config.timeout_s:g} s"
            return SendOutcome(record.event_id, ok=False, reason=reason), False
        except httpx.TransportError as exc:
            reason = self._redact(f"cannot reach {self._config.url}: {type(exc).__name__}: {exc}")
            return SendOutcome(record.event_id, ok=False, reason=reason), True
        status = response.status_code
        if 200 <= status < 300:
            return SendOutcome(record.event_id, ok=True), False
        retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
        if status in (401, 403):
            reason = f"HTTP {status}: the webhook refused our credentials"
            return SendOutcome(record.event_id, ok=False, reason=reason,
                               retry_after_s=retry_after_s, paused=True), True
        if status in (408, 429) or status >= 500:
            return SendOutcome(record.event_id, ok=False, reason=f"HTTP {status}",
                               retry_after_s=retry_after_s), status in (429, 503)
        text = " ".join(response.text[:_REASON_BODY_CHARS].split())
        reason = self._redact(f"HTTP {status}: {text}")
        return SendOutcome(record.event_id, ok=False, retry=False, reason=reason), False

    def _redact(self, text: str) -> str:
        return redact(text, (self._secret,) if self._secret else ())

    def close(self) -> None:
        pass
