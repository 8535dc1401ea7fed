"""The monitor's writes (issue 16): review an event, snooze or wake a rule.

``POST /api/events/{id}/review`` ``{"verdict", "by"}``, ``POST /api/rules/{id}/snooze``
``{"for": "15m"|"1h"|"8h"|"shift"|seconds, "by"}``, ``POST /api/rules/{id}/wake``.
Every write is refused (403) when the request's ``Origin`` (or ``Sec-Fetch-Site``) says
another site sent it, and wants a JSON body (415 otherwise: a cross-site form cannot send
one without a preflight the monitor never grants). The token, when set, is checked for
every route by the server's middleware before these run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamer.events.feedback import Feedback, ReviewError, Snoozes
from streamer.events.payload import iso_utc
from streamer.events.store import Store
from streamer.rules.snooze import SnoozeBook, shift_end
from streamer.schema.rule_parts import ScheduleConfig

DURATIONS_S = {"15m": 900.0, "1h": 3600.0, "8h": 8 * 3600.0}
MAX_SNOOZE_S = 24 * 3600.0


@dataclass
class ReviewDesk:
    """The operator's actions on one running camera, and what the page shows of them.

    Attributes:
        store: the outbox file.
        sinks: sink names a snooze record goes to.
        device_id / stream_id: the camera's ids for the records.
        frame_now: wall clock of the newest frame (snoozes run on frame time).
        schedules: each current rule's schedule (None: always on).
        wake_senders: cut the senders' idle wait after a new record.
    """

    store: Store
    sinks: list[str]
    device_id: str
    stream_id: str
    frame_now: Callable[[], float]
    schedules: Callable[[], dict[str, ScheduleConfig | None]]
    wake_senders: Callable[[], None] = lambda: None
    # Snoozes end by this clock too, so a wall clock set back cannot stretch one.
    clock: Callable[[], float] = time.monotonic
    book: SnoozeBook = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.feedback = Feedback(self.store)
        self.snoozes = Snoozes(self.store)
        self.book = SnoozeBook(clock=self.clock)
        # Stored snoozes survive a restart until they end, and never last longer than
        # they were set for, whatever the clock did meanwhile.
        now = self.frame_now()
        active = self.snoozes.active(now)
        self.book.replace(
            {rule: entry["until_ts"] for rule, entry in active.items()},
            {rule: min(entry["until_ts"] - now, entry["until_ts"] - entry["set_ts"])
             for rule, entry in active.items()},
        )

    def review(self, event_id: str, verdict: str, by: str | None) -> dict[str, Any]:
        record = self.feedback.review(event_id, verdict, by)
        self.wake_senders()
        return {"eventId": record.event_id, "relatedEventId": event_id, "feedback": verdict}

    def snooze(self, rule_id: str, length: object, by: str | None) -> dict[str, Any]:
        schedules = self.schedules()
        if rule_id not in schedules:
            raise ReviewError(f"no rule {rule_id!r}")
        now = self.frame_now()
        if length == "shift":
            until = shift_end(schedules[rule_id], now)
            if until is None:
                raise ReviewError(f"rule {rule_id!r} has no shift running now: pick a duration")
        elif isinstance(length, str) and length in DURATIONS_S:
            until = now + DURATIONS_S[length]
        elif isinstance(length, (int, float)) and not isinstance(length, bool) and 0 < length <= MAX_SNOOZE_S:
            until = now + float(length)
        else:
            raise ReviewError("for: expected 15m, 1h, 8h, shift or seconds up to 24 h")
        with self._lock:
            self.snoozes.snooze(rule_id, until, by, now, self.sinks, self.device_id, self.stream_id)
            self.book.set(rule_id, until, until - now)
        self.wake_senders()
        return {"rule": rule_id, "until": iso_utc(until), "until_ts": until}

    def wake(self, rule_id: str, by: str | None) -> dict[str, Any]:
        with self._lock:
            record = self.snoozes.wake(
                rule_id, by, self.frame_now(), self.sinks, self.device_id, self.stream_id
            )
            self.book.wake(rule_id)
        self.wake_senders()
        return {"rule": rule_id, "woken": record is not None}

    def status(self) -> dict[str, Any]:
        """For ``/api/status``: precision per rule, live snoozes, shift ends, last alerts."""
        now = self.frame_now()
        snoozes = {
            rule: {"until": iso_utc(entry["until_ts"]), "remaining_s": round(entry["until_ts"] - now, 1),
                   "by": entry["by"]}
            for rule, entry in self.snoozes.active(now).items()
        }
        ends = {rule: shift_end(schedule, now) for rule, schedule in self.schedules().items()}
        return {
            "precision": self.feedback.precision(),
            "snoozes": snoozes,
            "hidden_by_snooze": dict(self.book.hidden),
            "shift_end": {rule: iso_utc(end) if end else None for rule, end in ends.items()},
            # Acceptance time in the outbox is the clock's, so the age is too.
            "last_alert_age_s": {
                rule: round(max(0.0, time.time() - ts), 1)
                for rule, ts in self.feedback.last_alerts().items()
            },
        }


def cross_site(request: Request) -> str | None:
    """Why a write looks sent by another site, or None when it is the page's own."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() != own.lower():
        return f"Origin {origin[:100]!r} is not this monitor's"
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"request sent from another site ({site[:40]})"
    return None


async def json_body(request: Request) -> dict[str, Any] | Response:
    """The write's JSON object, or the answer refusing it (415 not JSON, 400 malformed)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse({"error": "send a JSON body (Content-Type: application/json)"}, 415)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, 400)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, 400)
    return body


async def write_body(request: Request) -> dict[str, Any] | Response:
    """Every monitor write's two checks after the token: the page's own Origin (403
    otherwise) and a JSON object body (415/400); the body, or the answer refusing it."""
    refused = cross_site(request)
    if refused is not None:
        return JSONResponse({"error": f"refused: {refused}"}, 403)
    return await json_body(request)


def json_write(
    action: Callable[[Request, dict[str, Any]], dict[str, Any]],
    refusal: Callable[[Exception], int | None],
) -> Callable[[Request], Any]:
    """A monitor write as an endpoint: :func:`write_body`'s checks, then ``action(request,
    body)`` on a worker thread (it reads and writes files), its answer as JSON. An error
    ``refusal`` gives a status for is answered ``{"error": ...}`` with that status; any
    other propagates to the server (a 500)."""

    async def endpoint(request: Request) -> Response:
        body = await write_body(request)
        if isinstance(body, Response):
            return body
        try:
            answer = await anyio.to_thread.run_sync(action, request, body)
        except Exception as exc:
            status = refusal(exc)
            if status is None:
                raise
            return JSONResponse({"error": str(exc)}, status)
        return JSONResponse(answer)

    return endpoint


def _review_refusal(exc: Exception) -> int | None:
    """An operator action that cannot be done: 404 for an unknown event or rule, else 400."""
    if isinstance(exc, ReviewError):
        return 404 if str(exc).startswith("no ") else 400
    return None


def review_routes(desk: ReviewDesk) -> list[Route]:
    """The POST routes, each behind the Origin check."""

    def guarded(action: Callable[[Request, dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
        return json_write(action, _review_refusal)

    def by(body: dict[str, Any]) -> str | None:
        name = body.get("by")
        return name if isinstance(name, str) else None

    def review(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return desk.review(request.path_params["event_id"], str(body.get("verdict")), by(body))

    def snooze(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return desk.snooze(request.path_params["rule_id"], body.get("for"), by(body))

    def wake(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return desk.wake(request.path_params["rule_id"], by(body))

    return [
        Route("/api/events/{event_id}/review", guarded(review), methods=["POST"]),
        Route("/api/rules/{rule_id}/snooze", guarded(snooze), methods=["POST"]),
        Route("/api/rules/{rule_id}/wake", guarded(wake), methods=["POST"]),
    ]


class PrecisionCollector(Collector):
    """``streamer_rule_reviews{rule, verdict}`` and ``streamer_rule_precision{rule}`` from
    the status structure's ``review`` entry (the same numbers as the page)."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        stream = str(status.get("camera", {}).get("id", ""))
        precision = (status.get("review") or {}).get("precision", {})
        reviews = GaugeMetricFamily(
            "streamer_rule_reviews", "Events of a rule operators judged, by latest verdict.",
            labels=["stream_id", "rule", "verdict"],
        )
        ratio = GaugeMetricFamily(
            "streamer_rule_precision", "correct / (correct + incorrect) of a rule's reviewed events.",
            labels=["stream_id", "rule"],
        )
        for rule, entry in precision.items():
            for verdict in ("correct", "incorrect", "inconclusive"):
                reviews.add_metric([stream, rule, verdict], float(entry[verdict]))
            if entry["precision"] is not None:
                ratio.add_metric([stream, rule], float(entry["precision"]))
        yield reviews
        yield ratio


def wall_now(last_wall_ts: Callable[[], float | None]) -> Callable[[], float]:
    """Frame time of the newest frame, else the clock (before the first frame)."""
    return lambda: last_wall_ts() or time.time()
