"""What keeps the monitor from being the way to starve the box (issue 28).

The monitor shares one process, and so one file-descriptor limit, with the camera, the
outbox and the sinks. A client that opens connections and never finishes a request must
not be able to take those descriptors (1,100 half-open connections took all 1,024: the
JSONL sink failed with "Too many open files", the source could not reopen its video and
asyncio logged an accept traceback per try). As nginx and Apache do it:

- **a connection cap** (:func:`connection_cap`): past it a new connection is closed at
  once, before any byte is read, so the monitor never holds more than its share;
- **a header deadline** (``HEADER_TIMEOUT_S``): a request's headers must be complete
  within that time of the connection (or of the request's first byte on a kept-alive
  connection), else the connection is closed; idle kept-alive connections close after
  uvicorn's ``timeout_keep_alive``;
- **the token first** (:class:`TokenGate`): checked before routing or reading any body,
  and a refused request's connection is closed with its 401, so an unauthenticated
  client holds nothing;
- **a body limit** (:class:`BodyLimit`): 413 past ``MAX_BODY_BYTES``, by
  ``Content-Length`` before reading or by counting a chunked body as it comes;
- **no framing** (:class:`NoFraming`): every answer says ``X-Frame-Options: DENY`` and
  ``Content-Security-Policy: frame-ancestors 'none'``, so a bait page cannot put the
  monitor's buttons under a visitor's click.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import resource
import time
from typing import Any
from urllib.parse import unquote_to_bytes

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("streamer.monitor")

# A browser sends a request's headers in one packet; 10 s is Apache's
# mod_reqtimeout first bound and far beyond any real client on a LAN.
HEADER_TIMEOUT_S = 10.0
# Idle kept-alive connections: uvicorn's default (5 s), kept explicit.
KEEP_ALIVE_S = 5.0
# The monitor's share of the process's descriptors: at most this many connections, and
# never more than a quarter of the soft RLIMIT_NOFILE (256 of the usual 1,024), so the
# camera, the outbox, the sinks and the model keep the rest whatever clients do.
MAX_CONNECTIONS = 256
# Connections accepted per readiness of the listening socket (and its listen queue).
ACCEPT_BURST = 16
# The largest request body the monitor reads: its writes are small JSON objects.
MAX_BODY_BYTES = 64 * 1024
# One log line per this many seconds about refused connections, not one per connection.
REFUSAL_LOG_EVERY_S = 60.0

FRAMING_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)


def connection_cap(limit: int = MAX_CONNECTIONS) -> int:
    """``limit``, lowered to a quarter of the soft descriptor limit when that is smaller."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return limit
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return limit
    return max(8, min(limit, soft // 4))


class Refusals:
    """Counts connections refused or cut, for ``/api/status``; logs them rate-limited."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.over_cap_total = 0
        self.header_timeouts_total = 0
        self._logged_at = 0.0
        self._since_log = 0

    def note(self, what: str) -> None:
        if what == "over_cap":
            self.over_cap_total += 1
        else:
            self.header_timeouts_total += 1
        self._since_log += 1
        now = time.monotonic()
        if now - self._logged_at >= REFUSAL_LOG_EVERY_S:
            log.warning("monitor: %d connection(s) refused or cut (over the %s-connection cap "
                        "or headers not sent within %g s) since the last report",
                        self._since_log, self.cap, HEADER_TIMEOUT_S)
            self._logged_at, self._since_log = now, 0

    def to_dict(self) -> dict[str, int]:
        return {"over_cap_total": self.over_cap_total,
                "header_timeouts_total": self.header_timeouts_total}


def guarded_protocol(refusals: Refusals,
                     header_timeout_s: float = HEADER_TIMEOUT_S) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``refusals.cap`` and the header deadline."""
    cap = refusals.cap

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's own signature, narrower than asyncio's
            if len(self.connections) >= cap:
                # Closed before anything is read: the descriptor is free again at once.
                refusals.note("over_cap")
                transport.abort()
                return
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                self._arm()  # a kept-alive connection's next request has begun
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self.transport is not None:  # None: refused in connection_made
                super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_timer is None and not self.transport.is_closing():
                self._header_timer = self.loop.call_later(header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                refusals.note("header_timeout")
                self.transport.abort()

    return GuardedH11Protocol


async def _answer(send: Send, status: int, document: dict[str, Any],
                  extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *extra,
    ]})
    await send({"type": "http.response.body", "body": body})


class NoFraming:
    """Adds the anti-framing headers to every answer, the 401/421/413 ones included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [pair for pair in FRAMING_HEADERS if pair[0] not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, framed)


class TokenGate:
    """401 (and the connection closed) unless the request carries the token, before any
    route runs or any body is read. Pure ASGI, so nothing is buffered before the check."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or hmac.compare_digest(_given_token(scope), self._token):
            await self.app(scope, receive, send)
            return
        await _answer(send, 401, {"error": "a monitor token is required (Bearer header or ?token=)"},
                      ((b"www-authenticate", b"Bearer"), (b"connection", b"close")))


def _given_token(scope: Scope) -> bytes:
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            given: bytes = value[7:].strip()
            return given
    query: bytes = scope.get("query_string", b"")
    for pair in query.split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == b"token":
            return unquote_to_bytes(value.replace(b"+", b" "))
    return b""


class BodyLimit:
    """413 for a request body over ``limit`` bytes: by its ``Content-Length`` before a
    byte of it is read, or, for a chunked body, as soon as the count passes the limit."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value) if len(value) <= 20 else self._limit + 1
                except ValueError:
                    declared = self._limit + 1
                if declared > self._limit:
                    await self._refuse(send)
                    return
        if not any(name == b"transfer-encoding" for name, _ in scope.get("headers", [])):
            await self.app(scope, receive, send)  # no body, or one of a checked length
            return
        # Chunked: read it here, at most the limit, and hand the app the bytes read.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self._limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await _answer(send, 413, {"error": f"request body over {self._limit} bytes"},
                      ((b"connection", b"close"),))
