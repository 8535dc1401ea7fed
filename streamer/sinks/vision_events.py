"""Deliver events to Roboflow Vision Events: upload the JPEGs, then POST events in batches.

The sink runs on its sender thread and never raises for a failed delivery: every event
gets a ``SendOutcome`` saying whether the outbox should keep it for a retry or
dead-letter it with the server's reason (docs/architecture.md, "Vision Events" and rule 2).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr

from streamer.events.record import INPUT_IMAGE_KEY, EventRecord, image_refs
from streamer.redact import redact
from streamer.schema.base import Loc
from streamer.schema.bases import ConfigBase, SinkBase
from streamer.schema.network import Url, insecure_http
from streamer.sinks.base import SendOutcome, SinkContext, cap_detections
from streamer.sinks.http import (
    REASON_BODY_CHARS,
    Dead,
    Delivered,
    Endpoint,
    Outcome,
    Paused,
    Retry,
    halts_batch,
    outcome,
    send_outcome,
)

# --- config ---------------------------------------------------------------------------


class VisionEventsSinkConfig(SinkBase):
    type: Literal["vision_events"]
    id: str | None = Field(None, description="Name in counters and the outbox; default: type.")
    api_url: Url = Field("https://api.roboflow.com", description="Base URL of the API.")
    api_key: SecretStr = Field(
        description="Key with the vision-events:write scope; use ${ROBOFLOW_API_KEY}."
    )
    use_case: str = Field(min_length=1, description="useCaseId; must exist on the server.")
    workflow_id: str | None = None
    timeout_s: float = Field(
        30.0, gt=0, description="Bound on each event POST (a batch of 100 is ~200 KiB, "
        "as big as a snapshot)."
    )
    upload_timeout_s: float = Field(
        30.0, gt=0, description="Bound on each JPEG upload (~250 KiB for 1080p: 8 s at "
        "256 kbit/s); the reference client allows 30 s."
    )
    upload_input_image: bool = Field(
        False, description="Also upload the raw frame (inputSourceId) beside the snapshot."
    )
    batch_size: int = Field(
        100, ge=1, le=100, description="Events per POST /vision-events/batch (API limit 100)."
    )
    max_in_flight: int = Field(
        8, ge=1, le=32, description="JPEG uploads in flight at once (1: one after another); "
        "on a 100 ms uplink 8 drain a backlog ~10x faster than 1 (benchmarks/delivery.py)."
    )
    allow_insecure_http: bool = Field(
        False, description="Allow an http:// api_url off loopback (the key then travels "
        "unencrypted)."
    )

    def build(self, context: SinkContext) -> VisionEventsSink:
        return VisionEventsSink(self, context.http_client(self.timeout_s, self.max_in_flight))

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        return insecure_http("api_url", self.api_url, "the API key", self.allow_insecure_http)


# --- plugin -----------------------------------------------------------------------------


logger = logging.getLogger("streamer.sinks.vision_events")

# Uploaded-but-not-yet-posted events whose source ids we remember; bounded so an event
# that retries forever cannot grow memory without limit (a lost entry costs one re-upload).
_MAX_CACHED_EVENTS = 10_000
MAX_BATCH = 100  # the API's limit for POST /vision-events/batch
# Uploads quicker than this (a server on the LAN or the box) gain nothing from running
# side by side, and the thread hand-offs cost more than they save: measured against the
# local test server, 8 in flight drained 430 events/s where one at a time drained 690.
# A cloud API over a real uplink (50 ms and up) is far above it: 8 in flight, 6-7x faster.
FAST_UPLOAD_S = 0.02


class _Failure(Exception):
    """One failed request, already classified by :func:`streamer.sinks.http.outcome`."""

    def __init__(self, result: Retry | Dead | Paused) -> None:
        super().__init__(result.reason)
        self.result = result


def _json_body(document: object) -> bytes:
    try:
        return json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise _Failure(Dead(f"payload is not valid JSON: {exc}")) from None


class VisionEventsSink:
    """Uploads each event's JPEGs, then posts up to 100 events per ``/vision-events/batch``.

    Args:
        config: the sink's YAML section; ``use_case`` and ``workflow_id`` are written into
            every payload (the event stage leaves them to the sink).
        client: made and closed by the runtime; this sink only borrows it. Each request
            carries its own ``Authorization`` header and the timeout of its kind
            (``upload_timeout_s`` for a JPEG, ``timeout_s`` for an event POST).

    Outcomes come from :func:`streamer.sinks.http.outcome`: 2xx delivered, a 409 for an
    eventId we sent is delivered too (the server holds it from an earlier send whose
    answer we never read); 408, 429, 5xx, timeouts and refused or dropped connections
    retried; 401/403 and any 3xx pause the sink; any other 4xx is final for that event.
    """

    def __init__(self, config: VisionEventsSinkConfig, client: httpx.Client) -> None:
        self.name: str = config.name
        self.batch_size = config.batch_size
        # Half of each batch from the newest end of a backlog (Sender, issue 14).
        self.fresh_first = True
        self._config = config
        self._client = client
        # rstrip tolerates "https://api.roboflow.com/" in the YAML.
        self._base_url = config.api_url.rstrip("/")
        self._api_key = config.api_key.get_secret_value()
        self._endpoint = Endpoint(
            url_key="api_url", refused="the API key was refused; fix the key",
            secrets=(self._api_key,), base_url=self._base_url,
        )
        # A 409 means "already stored" only for one event POSTed alone: on a batch it
        # says that some event of it is known, not which, so the batch is split instead.
        self._single = replace(self._endpoint, conflict_is_delivered=True)
        self._source_ids: OrderedDict[str, list[str]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._closed = False
        # Whether the last answer was a success: then a batch's uploads start all at once
        # instead of behind one probe (see _prepare_all). Written from upload threads; a
        # stale read costs at most one probe or one wasted wave.
        self._went_through = False
        # Seconds an upload took, smoothed: below FAST_UPLOAD_S the link is as quick as the
        # threads that would overlap it, so uploads go one after another (see _prepare_all).
        self._upload_s: float | None = None

    # -- Sink protocol ------------------------------------------------------------------

    def send(self, batch: list[EventRecord]) -> list[SendOutcome]:
        """Upload the records' JPEGs (up to ``max_in_flight`` at once), then POST the events
        up to 100 at a time.

        One outcome per record, same order. After a failure that concerns the server
        rather than the event (refused connection, refused key, rate limit, redirect) the
        rest of the batch is not attempted and gets the same outcome, so a dead server
        costs one timeout, not one per event. A batch refused with any final 4xx is resent
        one event at a time, so one bad or already-stored event never takes 99 others
        with it (docs/architecture.md, "Vision Events").
        """
        outcomes: dict[str, SendOutcome] = {}
        ready, halted = self._prepare_all(batch, outcomes)
        for start in range(0, len(ready), MAX_BATCH):
            chunk = ready[start:start + MAX_BATCH]
            if halted is not None:
                for record, _ in chunk:
                    outcomes[record.event_id] = self._settle(record, halted)
                continue
            halted = self._post_chunk(chunk, outcomes)
        return [outcomes[record.event_id] for record in batch]

    def _prepare_all(
        self, batch: list[EventRecord], outcomes: dict[str, SendOutcome]
    ) -> tuple[list[tuple[EventRecord, dict[str, Any]]], Outcome | None]:
        """Each record's POST body, its images uploaded; fills ``outcomes`` for those that
        failed and returns the ready ones (batch order) and the outcome that halted the rest.

        Records upload concurrently, up to ``max_in_flight`` at once: on a 100 ms uplink
        that is what turns 6 events/s into a backlog that drains in minutes (issue 14).
        One event's images still go one after another, so its cached source ids stay a
        prefix (a failure on image 1 never re-uploads image 0). Unless the last request
        went through, the first record goes alone: a refused key, a redirect or a dead
        server then costs one request, not ``max_in_flight`` of them.
        """
        halted: list[Outcome] = []  # the first server-wide failure, shared by the workers
        lock = threading.Lock()

        def prepare(record: EventRecord) -> dict[str, Any] | None:
            with lock:
                if halted:
                    outcomes[record.event_id] = self._settle(record, halted[0])
                    return None
            try:
                return self._prepare(record)
            except _Failure as failure:
                with lock:
                    if halts_batch(failure.result) and not halted:
                        halted.append(failure.result)
                    outcomes[record.event_id] = self._settle(record, failure.result)
            except Exception as exc:  # a bug here must not lose the event or kill the sender
                outcomes[record.event_id] = self._unexpected(record, exc)
            return None

        workers = min(self._config.max_in_flight, len(batch))
        if self._upload_s is not None and self._upload_s < FAST_UPLOAD_S:
            workers = 1
        probe = 0 if self._went_through or workers <= 1 else 1
        payloads = [prepare(record) for record in batch[:probe]]
        rest = batch[probe:]
        if workers <= 1 or halted:
            payloads += [prepare(record) for record in rest]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"upload-{self.name}") as pool:
                payloads += list(pool.map(prepare, rest))
        ready = [(record, payload) for record, payload in zip(batch, payloads)
                 if payload is not None]
        return ready, (halted[0] if halted else None)

    def close(self) -> None:
        """Forget cached source ids and refuse further requests; the client is the runtime's.

        A sender still busy at shutdown (a server answering in minutes) then ends its
        batch with one retryable outcome instead of one error per event.
        """
        self._closed = True
        with self._cache_lock:
            self._source_ids.clear()

    # -- posting ------------------------------------------------------------------------

    def _post_chunk(
        self, chunk: list[tuple[EventRecord, dict[str, Any]]], outcomes: dict[str, SendOutcome]
    ) -> Outcome | None:
        """POST one chunk; fills ``outcomes``; returns an outcome that halts the batch."""
        if len(chunk) == 1:
            record, payload = chunk[0]
            return self._post_one(record, payload, outcomes)
        try:
            body = _json_body({"events": [payload for _, payload in chunk]})
            result, response = self._post("/vision-events/batch", body, self._endpoint)
        except _Failure as failure:
            result, response = failure.result, None
        if isinstance(result, Dead):
            # All-or-nothing at the server: one bad or already-stored event refuses the
            # whole batch. Single POSTs find it, and the others go through.
            logger.info("batch of %d refused (%s); sending its events one at a time",
                        len(chunk), result.reason)
            for record, payload in chunk:
                halted = self._post_one(record, payload, outcomes)
                if halted is not None:
                    for other, _ in chunk:
                        outcomes.setdefault(other.event_id, self._settle(other, halted))
                    return halted
            return None
        if isinstance(result, Delivered) and response is not None:
            confirmed = _confirmed_ids(response, [record.event_id for record, _ in chunk])
            missing = len(chunk) - len(confirmed)
            unconfirmed = Retry(
                f"HTTP {response.status_code} confirmed {len(confirmed)} of {len(chunk)} "
                f"events (created/eventIds); the others are kept and sent again"
            )
            if missing:
                logger.warning("sink %s: %s", self.name, unconfirmed.reason)
            for record, _ in chunk:
                confirmed_here = record.event_id in confirmed
                outcomes[record.event_id] = self._settle(
                    record, Delivered() if confirmed_here else unconfirmed
                )
            return None
        for record, _ in chunk:
            outcomes[record.event_id] = self._settle(record, result)
        return result if halts_batch(result) else None

    def _post_one(
        self, record: EventRecord, payload: dict[str, Any], outcomes: dict[str, SendOutcome]
    ) -> Outcome | None:
        try:
            result, response = self._post("/vision-events", _json_body(payload), self._single)
        except _Failure as failure:
            result, response = failure.result, None
        if isinstance(result, Delivered) and not result.duplicate and response is not None:
            # Checked as a batch's answer is: a captive portal's 200 page is no receipt.
            if record.event_id not in _confirmed_ids(response, [record.event_id]):
                text = " ".join(response.text[:REASON_BODY_CHARS].split())
                result = Retry(self._redact(
                    f"HTTP {response.status_code} without created/eventIds for this event "
                    f"(not the API's answer; kept and sent again): {text}"))
                logger.warning("sink %s: %s", self.name, result.reason)
        if isinstance(result, Delivered) and result.duplicate:
            logger.info("event %s: the server already holds it (HTTP 409): delivered",
                        record.event_id)
        outcomes[record.event_id] = self._settle(record, result)
        return result if halts_batch(result) else None

    def _post(
        self, path: str, body: bytes, endpoint: Endpoint
    ) -> tuple[Outcome, httpx.Response | None]:
        response = self._request(path, self._config.timeout_s, content=body,
                                 headers={"Content-Type": "application/json"})
        result = outcome(response, endpoint)
        self._went_through = isinstance(result, Delivered)
        return result, response

    def _unexpected(self, record: EventRecord, exc: Exception) -> SendOutcome:
        reason = self._redact(f"unexpected error: {type(exc).__name__}: {exc}")
        logger.exception("event %s: %s", record.event_id, reason)
        return SendOutcome(record.event_id, ok=False, retry=True, reason=reason)

    # -- one event ----------------------------------------------------------------------

    def _prepare(self, record: EventRecord) -> dict[str, Any]:
        """The event's POST body with source ids, uploading the JPEGs it still needs."""
        try:
            refs = image_refs(record)
        except ValueError as exc:
            raise _Failure(Dead(str(exc))) from None
        # A copy: the record is shared with other sinks and keeps its sourceId-free form.
        payload = cap_detections(copy.deepcopy(record.payload))
        payload["useCaseId"] = self._config.use_case
        if not payload.get("customMetadata"):
            payload.pop("customMetadata", None)  # left out when empty, as the reference does
        if self._config.workflow_id:
            payload["workflowId"] = self._config.workflow_id
        source_ids = self._upload_images(record)
        images = []
        for ref, entry in zip(refs, payload.get("images", [])):
            entry = {**entry, "sourceId": source_ids[ref.image]}
            entry.pop(INPUT_IMAGE_KEY, None)
            if ref.input_image is not None:
                entry["inputSourceId"] = source_ids[ref.input_image]
            images.append(entry)
        if "images" in payload:
            payload["images"] = images
        _json_body(payload)  # a payload that cannot be JSON is final, found before posting
        return payload

    def _upload_images(self, record: EventRecord) -> list[str]:
        """Source ids of the record's JPEGs, uploading only those not uploaded before."""
        with self._cache_lock:
            source_ids = list(self._source_ids.get(record.event_id, []))
        for index in range(len(source_ids), len(record.images)):
            filename = f"{record.event_id}_{index}.jpg"
            stage = f"upload of image {index}: "
            started = time.monotonic()
            try:
                response = self._request(
                    "/vision-events/upload",
                    self._config.upload_timeout_s,
                    files={"file": (filename, record.images[index], "image/jpeg")},
                    data={"name": filename},
                )
            except _Failure as failure:
                # "connection refused" speaks for the server, not for this image.
                server_wide = halts_batch(failure.result)
                raise _Failure(failure.result if server_wide else _staged(stage, failure.result)
                               ) from None
            result = outcome(response, self._endpoint)
            self._went_through = isinstance(result, Delivered)
            took = time.monotonic() - started
            last = self._upload_s  # a stale read from another upload thread is harmless
            self._upload_s = took if last is None else 0.8 * last + 0.2 * took
            if not isinstance(result, Delivered):
                raise _Failure(_staged(stage, result))
            source_ids.append(self._source_id_from(response, stage))
            # Kept after each image so a failure on image 2 does not re-upload images 0-1.
            self._remember(record.event_id, source_ids)
        return source_ids

    # -- HTTP ---------------------------------------------------------------------------

    def _request(self, path: str, timeout_s: float, **kwargs: Any) -> httpx.Response:
        """POST to ``api_url + path``, never following a redirect (the key must not go to
        another place); a transport failure is raised as a classified ``_Failure``."""
        if self._closed or self._client.is_closed:
            raise _Failure(Retry("the sink is shutting down", server_wide=True))
        headers = {"Authorization": f"Bearer {self._api_key}", **kwargs.pop("headers", {})}
        try:
            return self._client.post(self._base_url + path, headers=headers, timeout=timeout_s,
                                     follow_redirects=False, **kwargs)
        except httpx.TransportError as exc:
            self._went_through = False
            result = outcome(exc, self._endpoint)
            assert not isinstance(result, Delivered)
            raise _Failure(result) from None

    def _source_id_from(self, response: httpx.Response, stage: str) -> str:
        try:
            source_id = response.json().get("sourceId")
        except (ValueError, AttributeError):
            source_id = None
        if not isinstance(source_id, str) or not source_id:
            # A 2xx without a source id is usually a proxy or portal page, not the API:
            # retry rather than dead-letter an event that is fine.
            text = " ".join(response.text[:REASON_BODY_CHARS].split())
            raise _Failure(Retry(
                self._redact(f"{stage}HTTP {response.status_code} without a sourceId: {text}")
            ))
        return source_id

    # -- helpers ------------------------------------------------------------------------

    def _settle(self, record: EventRecord, result: Outcome) -> SendOutcome:
        """The sender's outcome for ``record``; drops cached source ids once final."""
        if isinstance(result, (Delivered, Dead)):
            self._forget(record.event_id)
        if isinstance(result, Delivered):
            logger.debug("event %s delivered to %s", record.event_id, self.name)
        else:
            # A retryable failure is logged once per batch by the sender; per event it
            # would flood the log with a hundred lines each time the uplink blinks.
            final = isinstance(result, Dead)
            logger.log(logging.WARNING if final else logging.DEBUG,
                       "event %s not delivered to %s (%s): %s", record.event_id, self.name,
                       "final" if final else "will retry", result.reason)
        return send_outcome(record.event_id, result)

    def _remember(self, event_id: str, source_ids: list[str]) -> None:
        with self._cache_lock:
            self._source_ids[event_id] = list(source_ids)
            self._source_ids.move_to_end(event_id)
            while len(self._source_ids) > _MAX_CACHED_EVENTS:
                self._source_ids.popitem(last=False)

    def _forget(self, event_id: str) -> None:
        with self._cache_lock:
            self._source_ids.pop(event_id, None)

    def _redact(self, text: str) -> str:
        return redact(text, (self._api_key,))


def _staged(stage: str, result: Retry | Dead | Paused) -> Retry | Dead | Paused:
    """``result`` with ``stage`` ("upload of image 1: ") before its reason; a pause keeps
    its reason as is, since it is the sink's status line."""
    if isinstance(result, Paused):
        return result
    return replace(result, reason=stage + result.reason)


def _confirmed_ids(response: httpx.Response, sent: list[str]) -> set[str]:
    """The eventIds a 2xx create answer (batch or single) confirms: its ``eventIds`` when given, else all of
    them when ``created`` counts every event; none when the answer says neither (a proxy
    page is not a receipt)."""
    try:
        document = response.json()
    except ValueError:
        return set()
    if not isinstance(document, dict):
        return set()
    event_ids = document.get("eventIds")
    if isinstance(event_ids, list):
        return set(sent) & {item for item in event_ids if isinstance(item, str)}
    if len(sent) == 1 and document.get("eventId") == sent[0]:
        return set(sent)  # a single create may name its one event
    created = document.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and created == len(sent):
        return set(sent)
    return set()
