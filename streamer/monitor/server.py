"""The monitor's HTTP server: Starlette routes served by uvicorn in a background thread.

Routes: ``/`` (the page), ``/stream.mjpg``, ``/snapshot.jpg``, ``/api/status``,
``/api/events?limit=N&before=ID&rule=&verdict=&day=``, ``/events/{id}/snapshot.jpg``, ``/api/events/{id}/clip.mp4``
(an event's clip once ready, with HTTP ``Range`` so a ``<video>`` can seek), ``/metrics``, the
places editor's ``/api/places...`` (monitor/places.py) and ``POST /api/camera/reference``
(this view is right: take a new reference view). With a token set,
every route wants ``Authorization: Bearer <token>`` or ``?token=<token>``; off loopback a
token is not optional (:class:`Monitor` refuses to start without one). Every route also
checks the ``Host`` header, so a web page the operator opens cannot reach the monitor
through a DNS-rebinding domain.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from streamer.config.models import MIN_TOKEN_CHARS, MonitorConfig, is_loopback_host, normal_host
from streamer.errors import ConfigError, StreamerError
from streamer.events.clips import StoredClip
from streamer.monitor.guard import (
    ACCEPT_BURST,
    KEEP_ALIVE_S,
    MAX_BODY_BYTES,
    BodyLimit,
    NoFraming,
    Refusals,
    TokenGate,
    connection_cap,
    guarded_protocol,
)
from streamer.monitor.live import LiveView
from streamer.monitor.metrics import Metrics
from streamer.monitor.page import PAGE
from streamer.monitor.places import PlacesDesk, places_routes
from streamer.monitor.review import ReviewDesk, review_routes, write_body

log = logging.getLogger("streamer.monitor")

BOUNDARY = "streamerframe"
# Threads that draw and encode for all viewers together (one picture per frame is shared).
VIEWER_THREADS = 4
# Open MJPEG streams at once; past it a viewer gets 503 (each holds a connection of the
# monitor's capped share, and a wall of 300 viewers must leave room for /api/status).
MAX_VIEWERS = 32
# How often a waiting viewer looks for a new frame: well under a frame at the page's 5 fps.
FRAME_POLL_S = 0.05


@dataclass
class MonitorFeed:
    """What the monitor reads; every callable runs on a monitor thread, never the frame loop.

    Attributes:
        live: newest annotated frame.
        status: the ``/api/status`` structure (JSON-friendly, secrets already removed).
        events: one page of events, newest first (JSON-friendly): called with ``limit``
            and the filters ``before`` (an eventId: the page after it), ``rule``,
            ``verdict`` (or "none"), ``since_ts`` and ``until_ts`` (epoch seconds).
        event_image: an event's snapshot JPEG by event id, or ``None``.
        metrics: the Prometheus registry.
        review: the operator's writes (review, snooze, wake); None: a read-only monitor.
        event_clip: an event's stored clip by event id, or ``None`` (no clip, no outbox).
        retake_reference: take the next frame as the camera's reference view ("this view
            is right"); None where the tamper checks are off.
        places: the places editor's reads and writes (``/api/places``); None: no editor.
    """

    live: LiveView
    status: Callable[[], dict[str, Any]]
    events: Callable[..., list[dict[str, Any]]]
    event_image: Callable[[str], bytes | None]
    metrics: Metrics
    review: ReviewDesk | None = None
    event_clip: Callable[[str], StoredClip | None] = field(default=lambda event_id: None)
    retake_reference: Callable[[], bool] | None = None
    places: PlacesDesk | None = None


VERDICT_FILTERS = ("correct", "incorrect", "inconclusive", "none")


def event_filters(params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """``/api/events``' query: ``limit`` (1-200), ``before`` (an eventId), ``rule``,
    ``verdict`` (correct, incorrect, inconclusive, none) and ``day`` (YYYY-MM-DD, the
    browser's local day when it sends ``tz_offset_min``, JavaScript's getTimezoneOffset).
    Raises ValueError with the message the answer's 400 carries."""
    try:
        limit = max(1, min(200, int(params.get("limit", "20"))))
    except ValueError:
        raise ValueError("limit must be an integer") from None
    filters: dict[str, Any] = {}
    for name in ("before", "rule"):
        value = params.get(name)
        if value:
            if len(value) > 200:
                raise ValueError(f"{name} is too long")
            filters[name] = value
    verdict = params.get("verdict")
    if verdict:
        if verdict not in VERDICT_FILTERS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICT_FILTERS)}")
        filters["verdict"] = verdict
    day = params.get("day")
    if day:
        from datetime import datetime, timezone

        try:
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
            offset_min = int(params.get("tz_offset_min", "0"))
        except ValueError:
            raise ValueError("day must be YYYY-MM-DD, tz_offset_min an integer") from None
        if abs(offset_min) > 24 * 60:
            raise ValueError("tz_offset_min must be within a day")
        filters["since_ts"] = start + offset_min * 60
        filters["until_ts"] = filters["since_ts"] + 86400
    return limit, filters


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# More digits than any file has bytes (a 64-bit size has 20): a longer number is "past
# the end" without being parsed, as int() refuses strings over 4,300 digits.
_MAX_RANGE_DIGITS = 19


def ranged(data: bytes, range_header: str | None, media_type: str) -> Response:
    """``data`` whole (200) or the one byte range asked for (206, ``Content-Range``), as a
    ``<video>`` asks to seek; 416 for a range past the end. A multi-range or malformed
    header is ignored (the whole body), as RFC 9110 allows. Never raises: a number of any
    length is read as "that many bytes or more"."""
    size = len(data)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=3600"}
    match = _RANGE.fullmatch((range_header or "").strip())
    if match is None or match.group(1) == match.group(2) == "":
        return Response(data, media_type=media_type, headers=headers)
    first, last = (_bounded_int(group) for group in match.groups())
    if first is None:  # the last N bytes
        assert last is not None
        start, end = max(0, size - last), size - 1
    else:
        start, end = first, min(last if last is not None else size - 1, size - 1)
    if start >= size or end < start:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start:end + 1], status_code=206, media_type=media_type, headers=headers)


def _bounded_int(digits: str) -> int | None:
    """``digits`` as a number, capped far past any size; None for an empty group."""
    if not digits:
        return None
    digits = digits.lstrip("0") or "0"
    return 10 ** _MAX_RANGE_DIGITS if len(digits) > _MAX_RANGE_DIGITS else int(digits)


class _ViewerStream(StreamingResponse):
    """An MJPEG stream that gives its viewer slot back however it ends (the client gone
    before the first part included)."""

    def __init__(self, watching: list[int], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watching = watching

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._watching[0] -= 1


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

    async def metrics(request: Request) -> Response:
        body = await anyio.to_thread.run_sync(generate_latest, feed.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def reference(request: Request) -> Response:
        """"This view is right": the next frame becomes the reference view (issue 27). A
        write like the review's: token (middleware), same-origin, JSON body."""
        body = await write_body(request)
        if isinstance(body, Response):
            return body
        if feed.retake_reference is None or not feed.retake_reference():
            return JSONResponse({"error": "the tamper checks are off for this camera"}, 409)
        return JSONResponse({"reference": "the next frame becomes the reference view"}, 202)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/status", status),
            *_event_routes(feed),
            *_picture_routes(feed, closing),
            Route("/metrics", metrics),
            Route("/api/camera/reference", reference, methods=["POST"]),
            *(review_routes(feed.review) if feed.review is not None else []),
            *(places_routes(feed.places) if feed.places is not None else []),
        ],
        middleware=_middleware(token, hosts),
    )


def _middleware(token: str | None, hosts: HostPolicy | None) -> list[Middleware]:
    """Outermost first: every answer unframeable, then Host, then the token, then the body
    limit, so nothing of a request is read before it is known to be allowed."""
    middleware = [
        Middleware(NoFraming),
        Middleware(_HostCheck, policy=hosts or HostPolicy.for_bind("127.0.0.1")),
    ]
    if token is not None:
        middleware.append(Middleware(TokenGate, token=token))
    middleware.append(Middleware(BodyLimit, limit=MAX_BODY_BYTES))
    return middleware


def _event_routes(feed: MonitorFeed) -> list[Route]:
    """The stored events: a filtered page of them, an event's snapshot, its clip."""

    async def events(request: Request) -> Response:
        try:
            limit, filters = event_filters(request.query_params)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        listed = await anyio.to_thread.run_sync(lambda: feed.events(limit, **filters))
        return JSONResponse(listed)

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

    return [
        Route("/api/events", events),
        Route("/events/{event_id}/snapshot.jpg", event_image),
        Route("/api/events/{event_id}/clip.mp4", event_clip),
    ]


def _picture_routes(feed: MonitorFeed, closing: threading.Event) -> list[Route]:
    """The live picture: one JPEG, and the MJPEG stream, its viewers capped.

    Viewers draw on their own few threads, never on the pool /api/status and the other
    reads use: 300 viewers of an offline camera held 300 of those threads (6-7 s status
    answers, issue 28). A viewer waits for a new frame on the event loop instead.
    """
    viewers = anyio.CapacityLimiter(VIEWER_THREADS)

    async def newer_frame(after_seq: int, wait_s: float) -> tuple[int, bytes] | None:
        deadline = time.monotonic() + wait_s
        while feed.live.seq <= after_seq:
            if closing.is_set() or time.monotonic() >= deadline:
                return None
            await anyio.sleep(FRAME_POLL_S)
        return await anyio.to_thread.run_sync(feed.live.jpeg, after_seq, 0.0, limiter=viewers)

    async def snapshot(request: Request) -> Response:
        result = await newer_frame(-1, 5.0)
        if result is None:
            return JSONResponse({"error": "no frame yet"}, status_code=503)
        return Response(result[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    watching = [0]  # open MJPEG streams; only the event loop's thread touches it

    async def stream(request: Request) -> Response:
        if watching[0] >= MAX_VIEWERS:
            return JSONResponse(
                {"error": f"{MAX_VIEWERS} viewers are watching already; try again later"},
                status_code=503, headers={"Retry-After": "10", "Connection": "close"},
            )
        watching[0] += 1

        async def frames() -> AsyncIterator[bytes]:
            seq = -1
            while not closing.is_set() and not await request.is_disconnected():
                result = await newer_frame(seq, 1.0)
                if result is None:
                    continue
                seq, jpeg = result
                # Yield suspends until the client took the previous part: a slow
                # viewer skips frames instead of building a backlog.
                yield (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode() + jpeg + b"\r\n"

        return _ViewerStream(
            watching,
            frames(),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers={"Cache-Control": "no-store"},
        )

    return [Route("/snapshot.jpg", snapshot), Route("/stream.mjpg", stream)]


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
        # Connections refused over the cap or cut for slow headers (issue 28).
        self.refusals = Refusals(connection_cap())
        make_app = app_builder or build_app
        config = uvicorn.Config(
            make_app(feed, token, self._closing, HostPolicy.for_bind(self.host, allowed_hosts)),
            log_level="warning",
            # Through the root logger and its redacting formatter, not uvicorn's own handlers.
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            http=guarded_protocol(self.refusals),
            # asyncio accepts up to `backlog` connections in one go before any of them is
            # seen by the protocol (and so by the cap): a small burst keeps the descriptors
            # in flight bounded (2,048 by default: EMFILE and a traceback per try).
            backlog=ACCEPT_BURST,
            timeout_keep_alive=int(KEEP_ALIVE_S),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="monitor", daemon=True)

    @classmethod
    def started(
        cls, feed: Any, settings: MonitorConfig, app_builder: Callable[..., Starlette] | None = None
    ) -> Monitor | None:
        """The monitor a run's ``monitor`` section asks for, serving ``feed``; None, with
        one logged line, when it cannot listen: detection matters more than the page, so
        the run goes on without it.

        Raises:
            ConfigError: no real token off loopback (never serve without one).
        """
        token = settings.token
        try:
            monitor = cls(
                feed, settings.bind, token.get_secret_value() if token is not None else None,
                settings.allowed_hosts, app_builder=app_builder,
            )
        except ConfigError:
            raise
        except StreamerError as exc:
            log.error("%s; running without the monitor", exc)
            return None
        monitor.start()
        return monitor

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
