"""The monitor's HTTP server: Starlette routes served by uvicorn in a background thread.

Routes: ``/`` (the page), ``/stream.mjpg``, ``/snapshot.jpg``, ``/api/status``,
``/api/events?limit=N``, ``/events/{id}/snapshot.jpg``, ``/api/events/{id}/clip.mp4``
(an event's clip once ready, with HTTP ``Range`` so a ``<video>`` can seek), ``/metrics``, and the
places editor's ``/api/places...`` (monitor/places.py). With a token set,
every route wants ``Authorization: Bearer <token>`` or ``?token=<token>``; off loopback a
token is not optional (:class:`Monitor` refuses to start without one). Every route also
checks the ``Host`` header, so a web page the operator opens cannot reach the monitor
through a DNS-rebinding domain.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.datastructures import Headers
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from streamer.config.models import MIN_TOKEN_CHARS, is_loopback_host, normal_host
from streamer.errors import ConfigError, StreamerError
from streamer.events.clips import StoredClip
from streamer.monitor.live import LiveView
from streamer.monitor.metrics import Metrics
from streamer.monitor.page import PAGE
from streamer.monitor.places import PlacesDesk, places_routes
from streamer.monitor.review import ReviewDesk, review_routes

log = logging.getLogger("streamer.monitor")

BOUNDARY = "streamerframe"


@dataclass
class MonitorFeed:
    """What the monitor reads; every callable runs on a monitor thread, never the frame loop.

    Attributes:
        live: newest annotated frame.
        status: the ``/api/status`` structure (JSON-friendly, secrets already removed).
        events: the latest ``limit`` events, newest first (JSON-friendly).
        event_image: an event's snapshot JPEG by event id, or ``None``.
        metrics: the Prometheus registry.
        review: the operator's writes (review, snooze, wake); None: a read-only monitor.
        event_clip: an event's stored clip by event id, or ``None`` (no clip, no outbox).
        places: the places editor's reads and writes (``/api/places``); None: no editor.
    """

    live: LiveView
    status: Callable[[], dict[str, Any]]
    events: Callable[[int], list[dict[str, Any]]]
    event_image: Callable[[str], bytes | None]
    metrics: Metrics
    review: ReviewDesk | None = None
    event_clip: Callable[[str], StoredClip | None] = field(default=lambda event_id: None)
    places: PlacesDesk | None = None


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def ranged(data: bytes, range_header: str | None, media_type: str) -> Response:
    """``data`` whole (200) or the one byte range asked for (206, ``Content-Range``), as a
    ``<video>`` asks to seek; 416 for a range past the end. A multi-range or malformed
    header is ignored (the whole body), as RFC 9110 allows."""
    size = len(data)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=3600"}
    match = _RANGE.fullmatch((range_header or "").strip())
    if match is None or match.group(1) == match.group(2) == "":
        return Response(data, media_type=media_type, headers=headers)
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    if start >= size or end < start:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start:end + 1], status_code=206, media_type=media_type, headers=headers)


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` headers the monitor answers: DNS rebinding gets no picture.

    A rebinding page reaches the monitor under the attacker's domain name, so the
    browser sends that name as ``Host``. Allowed: the loopback names, the bind address,
    the configured ``allowed_hosts``; on a wildcard bind (0.0.0.0, ::) also any IP
    literal, since a page can only be served under an IP that is the monitor itself.
    """

    names: frozenset[str]
    any_ip: bool = False

    @classmethod
    def for_bind(cls, bind_host: str, allowed_hosts: Iterable[str] = ()) -> HostPolicy:
        bind_host = normal_host(bind_host)
        names = {"localhost", "127.0.0.1", "::1", bind_host, *map(normal_host, allowed_hosts)}
        return cls(frozenset(names - {""}), any_ip=bind_host in ("0.0.0.0", "::"))

    def allows(self, host_header: str) -> bool:
        host = _host_of(host_header)
        if host in self.names:
            return True
        if not self.any_ip:
            return False
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True


def _host_of(header: str) -> str:
    """The name in a ``Host`` header without its port: ``[::1]:80`` gives ``::1``."""
    header = header.strip()
    if header.startswith("["):
        return normal_host(header[1:].partition("]")[0])
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return normal_host(header)


class _HostCheck:
    """421 for a ``Host`` the :class:`HostPolicy` refuses, before any route or token check.

    Not Starlette's ``TrustedHostMiddleware``: it cuts the header at the first ':', so an
    IPv6 literal (``[::1]:8080``) never matches, and it cannot express "any IP literal"
    for a wildcard bind.
    """

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if not self._policy.allows(host):
                response = PlainTextResponse(
                    "misdirected request: this monitor does not answer to that Host name "
                    "(add it to monitor.allowed_hosts)\n",
                    status_code=421,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(
    feed: MonitorFeed,
    token: str | None = None,
    closing: threading.Event | None = None,
    hosts: HostPolicy | None = None,
) -> Starlette:
    """The ASGI app; separate from :class:`Monitor` so tests can serve it as they like.

    ``closing`` ends open MJPEG streams, so a shutdown finishes them instead of
    cancelling them mid-frame. ``hosts`` defaults to the loopback names only.
    """
    closing = closing or threading.Event()
    if token is not None and not token.strip():
        # An empty token would compare equal to an absent one: that is no auth at all.
        raise ConfigError("monitor.token: is empty; leave it unset or give a real token")

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def status(request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(feed.status))

    async def events(request: Request) -> Response:
        try:
            limit = max(1, min(200, int(request.query_params.get("limit", "20"))))
        except ValueError:
            return JSONResponse({"error": "limit must be an integer"}, status_code=400)
        return JSONResponse(await anyio.to_thread.run_sync(feed.events, limit))

    async def event_image(request: Request) -> Response:
        data = await anyio.to_thread.run_sync(feed.event_image, request.path_params["event_id"])
        if data is None:
            return JSONResponse({"error": "no such event"}, status_code=404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def event_clip(request: Request) -> Response:
        clip = await anyio.to_thread.run_sync(feed.event_clip, request.path_params["event_id"])
        if clip is None or clip.state != "ready" or not clip.mp4:
            state = "no clip" if clip is None else f"clip {clip.state}"
            return JSONResponse({"error": f"{state} for this event"}, status_code=404)
        return ranged(clip.mp4, request.headers.get("range"), "video/mp4")

    async def snapshot(request: Request) -> Response:
        result = await anyio.to_thread.run_sync(feed.live.jpeg, -1, 5.0)
        if result is None:
            return JSONResponse({"error": "no frame yet"}, status_code=503)
        return Response(result[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def stream(request: Request) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            seq = -1
            while not closing.is_set() and not await request.is_disconnected():
                result = await anyio.to_thread.run_sync(feed.live.jpeg, seq, 1.0)
                if result is None:
                    continue
                seq, jpeg = result
                # Yield suspends until the client took the previous part: a slow
                # viewer skips frames instead of building a backlog.
                yield (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode() + jpeg + b"\r\n"

        return StreamingResponse(
            frames(),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics(request: Request) -> Response:
        body = await anyio.to_thread.run_sync(generate_latest, feed.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    middleware = [Middleware(_HostCheck, policy=hosts or HostPolicy.for_bind("127.0.0.1"))]
    if token is not None:
        middleware.append(Middleware(_TokenMiddleware, token=token))
    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/status", status),
            Route("/api/events", events),
            Route("/events/{event_id}/snapshot.jpg", event_image),
            Route("/api/events/{event_id}/clip.mp4", event_clip),
            Route("/snapshot.jpg", snapshot),
            Route("/stream.mjpg", stream),
            Route("/metrics", metrics),
            *(review_routes(feed.review) if feed.review is not None else []),
            *(places_routes(feed.places) if feed.places is not None else []),
        ],
        middleware=middleware,
    )


class _TokenMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self._token = token.encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.query_params.get("token", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        if not hmac.compare_digest(given.encode(), self._token):
            return JSONResponse(
                {"error": "a monitor token is required (Bearer header or ?token=)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await call_next(request)


class Monitor:
    """Runs the app with uvicorn on its own thread; ``stop()`` ends it."""

    def __init__(
        self,
        feed: Any,
        bind: str,
        token: str | None = None,
        allowed_hosts: Iterable[str] = (),
        app_builder: Callable[..., Starlette] | None = None,
    ) -> None:
        """``app_builder(feed, token, closing, hosts)`` makes the app (default
        :func:`build_app`, one camera's page; a box passes its own)."""
        host, _, port = bind.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        try:
            port_number = int(port)
        except ValueError:
            raise StreamerError(f"monitor.bind: expected HOST:PORT, got {bind!r}") from None
        if token is not None and not token.strip():
            token = None
        if not is_loopback_host(self.host) and (token is None or len(token) < MIN_TOKEN_CHARS):
            # The config check says the same; this one holds for any caller, so the
            # picture never goes to the network without auth.
            raise ConfigError(
                f"monitor.token: bind {bind!r} is reachable from other machines: a token of "
                f"at least {MIN_TOKEN_CHARS} characters is required"
            )
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((self.host, port_number))
        except OSError as exc:
            self._socket.close()
            raise StreamerError(f"monitor.bind: cannot listen on {bind}: {exc.strerror or exc}") from None
        self._socket.listen(64)
        self.port = int(self._socket.getsockname()[1])
        self._closing = threading.Event()
        make_app = app_builder or build_app
        config = uvicorn.Config(
            make_app(feed, token, self._closing, HostPolicy.for_bind(self.host, allowed_hosts)),
            log_level="warning",
            # Through the root logger and its redacting formatter, not uvicorn's own handlers.
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="monitor", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "[::]") else host
        return f"http://{shown}:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except Exception as exc:  # the monitor failing must not take detection down
            log.error("the monitor stopped: %s", exc)

    def stop(self, timeout: float = 5.0) -> None:
        # Streams notice `closing` within a frame wait (1 s) and end cleanly; the
        # graceful shutdown then has no open response left to cut.
        self._closing.set()
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(1.0)
        self._socket.close()
