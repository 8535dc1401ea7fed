"""Deliver events to Roboflow Vision Events: upload each snapshot, then POST the event.

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
from streamer.events.record import EventRecord
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


class _Failure(Exception):
    """One failed request, already classified; ``batch_wide`` means the rest would fail too."""

    def __init__(
        self,
        reason: str,
        retry: bool,
        retry_after_s: float | None = None,
        batch_wide: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.retry_after_s = retry_after_s
        self.batch_wide = batch_wide


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
    """Sends each event as ``POST /vision-events`` after uploading its JPEGs.

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
        self._config = config
        self._client = client
        # rstrip tolerates "https://api.roboflow.com/" in the YAML.
        self._base_url = config.api_url.rstrip("/")
        self._api_key = config.api_key.get_secret_value()
        self._source_ids: OrderedDict[str, list[str]] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- Sink protocol ------------------------------------------------------------------

    def send(self, batch: list[EventRecord]) -> list[SendOutcome]:
        """Deliver each record in order; one outcome per record, same order.

        After a failure that concerns the server rather than the event (refused
        connection, refused key, rate limit) the rest of the batch is not attempted and
        gets the same retryable outcome, so a dead server costs one timeout, not one per event.
        """
        outcomes: list[SendOutcome] = []
        halted: _Failure | None = None
        for record in batch:
            if halted is not None:
                outcomes.append(self._outcome(record, halted))
                continue
            try:
                self._deliver(record)
            except _Failure as failure:
                outcomes.append(self._outcome(record, failure))
                if failure.batch_wide:
                    halted = failure
                continue
            except Exception as exc:  # a bug here must not lose the event or kill the sender
                reason = self._redact(f"unexpected error: {type(exc).__name__}: {exc}")
                logger.exception("event %s: %s", record.event_id, reason)
                outcomes.append(SendOutcome(record.event_id, ok=False, retry=True, reason=reason))
                continue
            self._forget(record.event_id)
            logger.debug("event %s delivered to %s", record.event_id, self.name)
            outcomes.append(SendOutcome(record.event_id, ok=True, retry=False))
        return outcomes

    def close(self) -> None:
        """Forget cached source ids; the client belongs to the runtime and stays open."""
        with self._cache_lock:
            self._source_ids.clear()

    # -- one event ----------------------------------------------------------------------

    def _deliver(self, record: EventRecord) -> None:
        payload = self._payload_without_sources(record)
        source_ids = self._upload_images(record)
        for entry, source_id in zip(payload.get("images", []), source_ids):
            entry["sourceId"] = source_id
        try:
            body = json.dumps(payload, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise _Failure(f"payload is not valid JSON: {exc}", retry=False) from None
        response = self._request(
            "/vision-events",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        self._raise_for_status(response, stage="")

    def _payload_without_sources(self, record: EventRecord) -> dict[str, Any]:
        # A copy: the record is shared with other sinks and must keep its sourceId-free form.
        payload = copy.deepcopy(record.payload)
        payload["useCaseId"] = self._config.use_case
        if self._config.workflow_id:
            payload["workflowId"] = self._config.workflow_id
        images = payload.get("images", [])
        if not isinstance(images, list) or len(images) != len(record.images):
            count = len(images) if isinstance(images, list) else "no list of"
            raise _Failure(
                f"payload has {count} images entries but the record holds "
                f"{len(record.images)} JPEG(s)",
                retry=False,
            )
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
            )
        if status in _RETRY_STATUSES or status >= 500:
            raise _Failure(
                f"{stage}HTTP {status}",
                retry=True,
                retry_after_s=retry_after_s,
                batch_wide=status == 429,
            )
        text = " ".join(response.text[:_REASON_BODY_CHARS].split())
        raise _Failure(self._redact(f"{stage}HTTP {status}: {text}"), retry=False)

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
        logger.warning(
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
