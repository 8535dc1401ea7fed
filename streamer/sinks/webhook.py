"""Webhook sink: each event POSTed as JSON, optionally signed with HMAC-SHA256.

The body is the Vision Events payload; with ``include_images`` each images entry carries
its JPEGs as base64. With a ``secret`` the hex HMAC-SHA256 of the exact body bytes goes in
``signature_header`` as ``sha256=<hex>``, so the receiver can check who sent it and that
nothing changed on the way. Answers are classified by :func:`streamer.sinks.http.outcome`,
as for Vision Events: 408/429/5xx, timeouts and refused connections retried
(``Retry-After`` honoured), 401/403 and any 3xx pause the sink, any other 4xx
dead-letters the event with the answer.

With ``send_clip`` an event with a clip (issue 17) waits for it (until it is due) and goes
as ``multipart/form-data`` instead: a part ``event`` (``application/json``, the same JSON,
``customMetadata.clip`` ``attached`` or ``missing`` with ``clip_missing``) and, when the
clip is there, a part ``clip`` (``video/mp4``, filename ``<eventId>.mp4``). The signature
then covers the whole multipart body, as sent.

The URL itself is treated as a secret (Slack, Teams and Discord put the token in the
path): every reason, log line and ``repr`` shows it as ``scheme://host/…`` only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import replace
from typing import Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from streamer.events.record import EventRecord
from streamer.schema.base import Loc
from streamer.schema.bases import ConfigBase, SinkBase
from streamer.schema.network import Url, insecure_http
from streamer.sinks.base import Dead, Outcome, Paused, Retry, Sink, SinkContext, json_body
from streamer.sinks.http import Endpoint, halts_batch, mask_url, outcome, secret_url_parts

# --- config ---------------------------------------------------------------------------


class WebhookSinkConfig(SinkBase):
    type: Literal["webhook"]
    id: str | None = None
    url: Url = Field(description="http(s) URL each event is POSTed to as JSON.")
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key; the body's hex digest goes in `signature_header`."
    )
    signature_header: str = Field("X-Streamer-Signature", min_length=1)
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    include_images: bool = Field(
        True, description="Embed the JPEGs as base64 `imageBase64`/`inputImageBase64`."
    )
    send_clip: bool = Field(
        False, description="Send an event with a clip as multipart/form-data: part `event` "
        "(the JSON) and part `clip` (video/mp4); the event waits for its clip until due."
    )
    timeout_s: float = Field(10.0, gt=0)
    allow_insecure_http: bool = Field(
        False, description="Allow an http:// url off loopback although a `secret` or an "
        "Authorization header goes with it."
    )

    @field_validator("headers")
    @classmethod
    def _sendable(cls, value: dict[str, str]) -> dict[str, str]:
        """HTTP refuses these on every send; say so at `validate` instead."""
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name (letters, digits, -)")
            if any(char in text for char in "\r\n\0"):
                raise ValueError(f"header {name!r}: a value cannot hold a line break")
        return value

    def build(self, context: SinkContext) -> WebhookSink:
        return WebhookSink(self, context.http_client(self.timeout_s))

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        auth = any(name.lower() == "authorization" for name in self.headers)
        if not (self.secret is not None or auth):
            return []
        what = "the Authorization header" if auth else "signed events"
        return insecure_http("url", self.url, what, self.allow_insecure_http)

    def secrets(self) -> list[str]:
        """Slack, Teams and Discord put the token in the URL's path: the URL, a path long
        enough to be a token (not ``/hook``, which would mask every "/hook" in the logs),
        and any credentials or query values in it."""
        return list(secret_url_parts(self.url))


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


# --- plugin -----------------------------------------------------------------------------


def multipart(parts: list[tuple[str, str | None, str, bytes]]) -> tuple[bytes, str]:
    """``(body, content type)`` of a multipart/form-data body from ``(name, filename,
    content type, bytes)`` parts; built here so the signature covers the exact bytes."""
    boundary = f"streamer-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex digest>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookSink(Sink):
    """POSTs one event per request to ``config.url``; the client is the runtime's."""

    def __init__(self, config: WebhookSinkConfig, client: httpx.Client) -> None:
        self.name = config.name
        self.carries_clips = config.send_clip
        self._config = config
        self._client = client
        self._secret = config.secret.get_secret_value() if config.secret else None
        self._shown_url = mask_url(config.url)
        secrets = secret_url_parts(config.url) + ((self._secret,) if self._secret else ())
        self._endpoint = Endpoint(url_key="url", refused="the webhook refused our credentials",
                                  secrets=secrets, mask_urls=True)

    def __repr__(self) -> str:
        return f"WebhookSink(name={self.name!r}, url={self._shown_url!r})"

    def send(self, batch: list[EventRecord]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        halted: Outcome | None = None
        for record in batch:
            result = halted or self._send_one(record)
            outcomes[record.event_id] = result
            if halted is None and halts_batch(result):
                halted = result
        return outcomes

    def _send_one(self, record: EventRecord) -> Outcome:
        try:
            body = json_body(record, self._config.include_images)
        except (TypeError, ValueError) as exc:
            return Dead(str(exc))
        content_type = "application/json"
        if self._config.send_clip and record.stored_clip is not None:
            parts: list[tuple[str, str | None, str, bytes]] = [("event", None, content_type, body)]
            clip = record.stored_clip
            if clip.missing() is None and clip.mp4:
                parts.append(("clip", f"{record.event_id}.mp4", "video/mp4", clip.mp4))
            body, content_type = multipart(parts)
        headers = {"Content-Type": content_type, **self._config.headers}
        if self._secret:
            headers[self._config.signature_header] = sign(self._secret, body)
        try:
            response = self._client.post(self._config.url, content=body, headers=headers,
                                         timeout=self._config.timeout_s, follow_redirects=False)
        except httpx.TransportError as exc:
            result = outcome(exc, self._endpoint)
            # httpx names the URL in some errors: say where without the token.
            assert isinstance(result, (Retry, Dead, Paused))
            return replace(result, reason=f"{self._shown_url}: {result.reason}")
        return outcome(response, self._endpoint)
