"""Deliver events to Roboflow Vision Events: upload the JPEGs, then POST events in batches.

The sink runs on its sender thread and never raises for a failed delivery: every event
gets a ``SendOutcome`` saying whether the outbox should keep it for a retry or
dead-letter it with the server's reason (design.md, "Vision Events"; rule 2).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections import OrderedDict
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from streamer.config.models import VisionEventsSinkConfig
from streamer.events.record import EventRecord, image_refs
from streamer.redact import redact
from streamer.sinks.base import SendOutcome

logger = logging.getLogger("streamer.sinks.vision_events")

# Statuses worth retrying besides 5xx: the request timed out or we were rate limited.
_RETRY_STATUSES = frozenset({408, 429})
_AUTH_STATUSES = frozenset({401, 403})
# Uploaded-but-not-yet-posted events whose source ids we remember; bounded so an event
# that retries forever cannot grow memory without limit (a lost entry costs one re-upload).
_MAX_CACHED_EVENTS = 10_000
_REASON_BODY_CHARS = 200
MAX_BATCH = 100  # the API's limit for POST /vision-events/batch


class _Failure(Exception):
    """One failed request, already classified; ``batch_wide`` means the rest would fail too."""

    def __init__(
        self,
        reason: str,
        retry: bool,
        retry_after_s: float | None = None,
        batch_wide: bool = False,
        status: int | None = None,
        auth: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.retry_after_s = retry_after_s
        self.batch_wide = batch_wide
        self.status = status
        self.auth = auth


def _json_body(document: object) -> bytes:
    try:
        return json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise _Failure(f"payload is not valid JSON: {exc}", retry=False) from None


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


class VisionEventsSink:
    """Uploads each event's JPEGs, then posts up to 100 events per ``/vision-events/batch``.

    Args:
        config: the sink's YAML section; ``use_case`` and ``workflow_id`` are written into
            every payload (the event stage leaves them to the sink).
        client: made and closed by the runtime; this sink only borrows it. Each request
            carries its own ``Authorization`` header and ``config.timeout_s``.

    Outcomes: 2xx is delivered; 408, 429, 5xx, timeouts, refused or dropped connections
    and a refused API key (401/403) are kept for a retry; any other 4xx is final for that
    event, with the status and the start of the server's answer as the reason.
    """

    def __init__(self, config: VisionEventsSinkConfig, client: httpx.Client) -> None:
        self.name: str = config.name
        self.batch_size = config.batch_size
        self._config = config
        self._client = client
        # rstrip tolerates "https://api.roboflow.com/" in the YAML.
        self._base_url = config.api_url.rstrip("/")
        self._api_key = config.api_key.get_secret_value()
        self._source_ids: OrderedDict[str, list[str]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._closed = False

    # -- Sink protocol ------------------------------------------------------------------

    def send(self, batch: list[EventRecord]) -> list[SendOutcome]:
        """Upload each record's JPEGs, then POST the events up to 100 at a time.

        One outcome per record, same order. After a failure that concerns the server
        rather than the event (refused connection, refused key, rate limit) the rest of the
        batch is not attempted and gets the same retryable outcome, so a dead server costs
        one timeout, not one per event. A batch refused with 400/422 is resent one event
        at a time, so only the bad event is dead-lettered (design.md, "Semantics, decided").
        """
        outcomes: dict[str, SendOutcome] = {}
        ready: list[tuple[EventRecord, dict[str, Any]]] = []
        halted: _Failure | None = None
        for record in batch:
            if halted is not None:
                outcomes[record.event_id] = self._outcome(record, halted)
                continue
            try:
                ready.append((record, self._prepare(record)))
            except _Failure as failure:
                outcomes[record.event_id] = self._outcome(record, failure)
                if failure.batch_wide:
                    halted = failure
            except Exception as exc:  # a bug here must not lose the event or kill the sender
                outcomes[record.event_id] = self._unexpected(record, exc)
        for start in range(0, len(ready), MAX_BATCH):
            chunk = ready[start:start + MAX_BATCH]
            if halted is not None:
                for record, _ in chunk:
                    outcomes[record.event_id] = self._outcome(record, halted)
                continue
            halted = self._post_chunk(chunk, outcomes)
        return [outcomes[record.event_id] for record in batch]

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
    ) -> _Failure | None:
        """POST one chunk; fills ``outcomes``; returns a batch-wide failure, if any."""
        if len(chunk) == 1:
            record, payload = chunk[0]
            return self._post_one(record, payload, outcomes)
        try:
            body = _json_body({"events": [payload for _, payload in chunk]})
            response = self._request(
                "/vision-events/batch", content=body, headers={"Content-Type": "application/json"}
            )
            self._raise_for_status(response, stage="batch: ")
        except _Failure as failure:
            if not failure.retry and failure.status in (400, 422):
                # One bad event refuses the whole batch (all-or-nothing at the server):
                # single POSTs find it, and the good ones go through.
                logger.info(
                    "batch of %d refused (%s); sending its events one at a time",
                    len(chunk), failure.reason,
                )
                for record, payload in chunk:
                    halted = self._post_one(record, payload, outcomes)
                    if halted is not None:
                        for other, _ in chunk:
                            outcomes.setdefault(other.event_id, self._outcome(other, halted))
                        return halted
                return None
            for record, _ in chunk:
                outcomes[record.event_id] = self._outcome(record, failure)
            return failure if failure.batch_wide else None
        for record, _ in chunk:
            outcomes[record.event_id] = self._delivered(record)
        return None

    def _post_one(
        self, record: EventRecord, payload: dict[str, Any], outcomes: dict[str, SendOutcome]
    ) -> _Failure | None:
        try:
            response = self._request(
                "/vision-events",
                content=_json_body(payload),
                headers={"Content-Type": "application/json"},
            )
            self._raise_for_status(response, stage="")
        except _Failure as failure:
            outcomes[record.event_id] = self._outcome(record, failure)
            return failure if failure.batch_wide else None
        outcomes[record.event_id] = self._delivered(record)
        return None

    def _delivered(self, record: EventRecord) -> SendOutcome:
        self._forget(record.event_id)
        logger.debug("event %s delivered to %s", record.event_id, self.name)
        return SendOutcome(record.event_id, ok=True, retry=False)

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
            raise _Failure(str(exc), retry=False) from None
        # A copy: the record is shared with other sinks and keeps its sourceId-free form.
        payload = copy.deepcopy(record.payload)
        payload["useCaseId"] = self._config.use_case
        if self._config.workflow_id:
            payload["workflowId"] = self._config.workflow_id
        source_ids = self._upload_images(record)
        images = []
        for ref in refs:
            entry = copy.deepcopy(ref.entry)
            entry["sourceId"] = source_ids[ref.image]
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
            response = self._request(
                "/vision-events/upload",
                files={"file": (filename, record.images[index], "image/jpeg")},
                data={"name": filename},
            )
            stage = f"upload of image {index}: "
            self._raise_for_status(response, stage=stage)
            source_id = self._source_id_from(response, stage)
            source_ids.append(source_id)
            # Kept after each image so a failure on image 2 does not re-upload images 0-1.
            self._remember(record.event_id, source_ids)
        return source_ids

    # -- HTTP ---------------------------------------------------------------------------

    def _request(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST to ``api_url + path``; transport failures become retryable ``_Failure``s."""
        if self._closed or self._client.is_closed:
            raise _Failure("the sink is shutting down", retry=True, batch_wide=True)
        headers = {"Authorization": f"Bearer {self._api_key}", **kwargs.pop("headers", {})}
        try:
            return self._client.post(
                self._base_url + path,
                headers=headers,
                timeout=self._config.timeout_s,
                **kwargs,
            )
        except httpx.TimeoutException as exc:
            # A connect timeout means the host is unreachable for every event of the batch;
            # a read timeout may be this request's size, so the rest are still tried.
            raise _Failure(
                f"timed out after {self._config.timeout_s:g} s ({type(exc).__name__})",
                retry=True,
                batch_wide=isinstance(exc, httpx.ConnectTimeout),
            ) from None
        except httpx.ConnectError as exc:
            text = str(exc)
            refused = "refused" in text.lower()
            reason = "connection refused" if refused else f"cannot connect: {text}"
            raise _Failure(self._redact(reason), retry=True, batch_wide=True) from None
        except httpx.RemoteProtocolError as exc:
            raise _Failure(
                self._redact(f"connection closed by the server without an answer ({exc})"),
                retry=True,
            ) from None
        except httpx.TransportError as exc:
            raise _Failure(
                self._redact(f"transport error: {type(exc).__name__}: {exc}"), retry=True
            ) from None

    def _raise_for_status(self, response: httpx.Response, stage: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
        if status in _AUTH_STATUSES:
            # Kept, never dropped: a rotated or mistyped key is fixed by the operator,
            # and every event waiting meanwhile must still go out.
            raise _Failure(
                f"{stage}HTTP {status}: the API key was refused",
                retry=True,
                retry_after_s=retry_after_s,
                batch_wide=True,
                status=status,
                auth=True,
            )
        if status in _RETRY_STATUSES or status >= 500:
            raise _Failure(
                f"{stage}HTTP {status}",
                retry=True,
                retry_after_s=retry_after_s,
                # 429 and 503 speak for the server, not for this request.
                batch_wide=status in (429, 503),
                status=status,
            )
        text = " ".join(response.text[:_REASON_BODY_CHARS].split())
        raise _Failure(self._redact(f"{stage}HTTP {status}: {text}"), retry=False, status=status)

    def _source_id_from(self, response: httpx.Response, stage: str) -> str:
        try:
            source_id = response.json().get("sourceId")
        except (ValueError, AttributeError):
            source_id = None
        if not isinstance(source_id, str) or not source_id:
            # A 2xx without a source id is usually a proxy or portal page, not the API:
            # retry rather than dead-letter an event that is fine.
            text = " ".join(response.text[:_REASON_BODY_CHARS].split())
            raise _Failure(
                self._redact(f"{stage}HTTP {response.status_code} without a sourceId: {text}"),
                retry=True,
            )
        return source_id

    # -- helpers ------------------------------------------------------------------------

    def _outcome(self, record: EventRecord, failure: _Failure) -> SendOutcome:
        if not failure.retry:
            self._forget(record.event_id)
        # A retryable failure is logged once per batch by the sender; per event it would
        # flood the log with a hundred lines each time the uplink blinks.
        logger.log(
            logging.DEBUG if failure.retry else logging.WARNING,
            "event %s not delivered to %s (%s): %s",
            record.event_id,
            self.name,
            "will retry" if failure.retry else "final",
            failure.reason,
        )
        return SendOutcome(
            record.event_id,
            ok=False,
            retry=failure.retry,
            reason=failure.reason,
            retry_after_s=failure.retry_after_s,
            paused=failure.auth,
        )

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
