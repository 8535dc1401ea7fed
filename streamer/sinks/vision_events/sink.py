"""The Vision Events sink: its config, and which events it sends, in what order, how many at once.

The sink runs on its sender thread and never raises for a failed delivery: every event
gets an ``Outcome`` saying whether the outbox should keep it for a retry or
dead-letter it with the server's reason (docs/architecture.md, "Vision Events" and rule 2).
"""

from __future__ import annotations

import copy
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr

from streamer.events.record import INPUT_IMAGE_KEY, EventRecord, image_refs
from streamer.schema.base import Loc
from streamer.schema.bases import ConfigBase, SinkBase
from streamer.schema.network import Url, insecure_http
from streamer.sinks.base import Dead, Delivered, Outcome, Retry, Sink, SinkContext, cap_detections
from streamer.sinks.http import halts_batch
from streamer.sinks.vision_events.api import (
    Api,
    Failure,
    answer_text,
    confirmed_ids,
    json_body,
)
from streamer.sinks.vision_events.uploads import Uploads

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

    def sends_input_image(self) -> bool:
        return self.upload_input_image

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        return insecure_http("api_url", self.api_url, "the API key", self.allow_insecure_http)


# --- plugin -----------------------------------------------------------------------------


logger = logging.getLogger("streamer.sinks.vision_events")

MAX_BATCH = 100  # the API's limit for POST /vision-events/batch


class VisionEventsSink(Sink):
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

    # Half of each batch from the newest end of a backlog (Sender, issue 14).
    fresh_first = True

    def __init__(self, config: VisionEventsSinkConfig, client: httpx.Client) -> None:
        self.name: str = config.name
        self.batch_size = config.batch_size
        self._config = config
        # rstrip tolerates "https://api.roboflow.com/" in the YAML.
        self._api = Api(client, config.api_url.rstrip("/"), config.api_key.get_secret_value())
        self._uploads = Uploads(self._api, config.upload_timeout_s)

    # -- Sink protocol ------------------------------------------------------------------

    def send(self, batch: list[EventRecord]) -> dict[str, Outcome]:
        """Upload the records' JPEGs (up to ``max_in_flight`` at once), then POST the events
        up to 100 at a time.

        One outcome per record, by eventId. After a failure that concerns the server
        rather than the event (refused connection, refused key, rate limit, redirect) the
        rest of the batch is not attempted and gets the same outcome, so a dead server
        costs one timeout, not one per event. A batch refused with any final 4xx is resent
        one event at a time, so one bad or already-stored event never takes 99 others
        with it (docs/architecture.md, "Vision Events").
        """
        outcomes: dict[str, Outcome] = {}
        ready, halted = self._prepare_all(batch, outcomes)
        for start in range(0, len(ready), MAX_BATCH):
            chunk = ready[start:start + MAX_BATCH]
            if halted is not None:
                for record, _ in chunk:
                    outcomes[record.event_id] = self._settle(record, halted)
                continue
            halted = self._post_chunk(chunk, outcomes)
        return outcomes

    def _prepare_all(
        self, batch: list[EventRecord], outcomes: dict[str, Outcome]
    ) -> tuple[list[tuple[EventRecord, dict[str, Any]]], Outcome | None]:
        """Each record's POST body, its images uploaded; fills ``outcomes`` for those that
        failed and returns the ready ones (batch order) and the outcome that halted the rest.

        Records upload concurrently, up to ``max_in_flight`` at once: on a 100 ms uplink
        that is what turns 6 events/s into a backlog that drains in minutes (issue 14).
        One event's images still go one after another, so its cached source ids stay a
        prefix (a failure on image 1 never re-uploads image 0). Unless the last request
        went through, the first record goes alone: a refused key, a redirect or a dead
        server then costs one request, not ``max_in_flight`` of them. Uploads quicker than
        the thread hand-offs go one after another (see ``Uploads.fast``).
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
            except Failure as failure:
                with lock:
                    if halts_batch(failure.result) and not halted:
                        halted.append(failure.result)
                    outcomes[record.event_id] = self._settle(record, failure.result)
            except Exception as exc:  # a bug here must not lose the event or kill the sender
                outcomes[record.event_id] = self._unexpected(record, exc)
            return None

        workers = 1 if self._uploads.fast else min(self._config.max_in_flight, len(batch))
        probe = 0 if self._api.went_through or workers <= 1 else 1
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
        self._api.closed = True
        self._uploads.clear()

    # -- posting ------------------------------------------------------------------------

    def _post_chunk(
        self, chunk: list[tuple[EventRecord, dict[str, Any]]], outcomes: dict[str, Outcome]
    ) -> Outcome | None:
        """POST one chunk; fills ``outcomes``; returns an outcome that halts the batch."""
        if len(chunk) == 1:
            record, payload = chunk[0]
            return self._post_one(record, payload, outcomes)
        try:
            body = json_body({"events": [payload for _, payload in chunk]})
            result, response = self._post("/vision-events/batch", body, single=False)
        except Failure as failure:
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
            confirmed = confirmed_ids(response, [record.event_id for record, _ in chunk])
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
        self, record: EventRecord, payload: dict[str, Any], outcomes: dict[str, Outcome]
    ) -> Outcome | None:
        try:
            result, response = self._post("/vision-events", json_body(payload), single=True)
        except Failure as failure:
            result, response = failure.result, None
        if isinstance(result, Delivered) and not result.duplicate and response is not None:
            # Checked as a batch's answer is: a captive portal's 200 page is no receipt.
            if record.event_id not in confirmed_ids(response, [record.event_id]):
                result = Retry(self._api.redact(
                    f"HTTP {response.status_code} without created/eventIds for this event "
                    f"(not the API's answer; kept and sent again): {answer_text(response)}"))
                logger.warning("sink %s: %s", self.name, result.reason)
        if isinstance(result, Delivered) and result.duplicate:
            logger.info("event %s: the server already holds it (HTTP 409): delivered",
                        record.event_id)
        outcomes[record.event_id] = self._settle(record, result)
        return result if halts_batch(result) else None

    def _post(
        self, path: str, body: bytes, single: bool
    ) -> tuple[Outcome, httpx.Response | None]:
        endpoint = self._api.single if single else self._api.endpoint
        return self._api.post(path, body, endpoint, self._config.timeout_s)

    def _unexpected(self, record: EventRecord, exc: Exception) -> Outcome:
        reason = self._api.redact(f"unexpected error: {type(exc).__name__}: {exc}")
        logger.exception("event %s: %s", record.event_id, reason)
        return Retry(reason)

    # -- one event ----------------------------------------------------------------------

    def _prepare(self, record: EventRecord) -> dict[str, Any]:
        """The event's POST body with source ids, uploading the JPEGs it still needs."""
        try:
            refs = image_refs(record)
        except ValueError as exc:
            raise Failure(Dead(str(exc))) from None
        # A copy: the record is shared with other sinks and keeps its sourceId-free form.
        payload = cap_detections(copy.deepcopy(record.payload))
        payload["useCaseId"] = self._config.use_case
        if not payload.get("customMetadata"):
            payload.pop("customMetadata", None)  # left out when empty, as the reference does
        if self._config.workflow_id:
            payload["workflowId"] = self._config.workflow_id
        source_ids = self._uploads.source_ids(record)
        images = []
        for ref, entry in zip(refs, payload.get("images", [])):
            entry = {**entry, "sourceId": source_ids[ref.image]}
            entry.pop(INPUT_IMAGE_KEY, None)
            if ref.input_image is not None:
                entry["inputSourceId"] = source_ids[ref.input_image]
            images.append(entry)
        if "images" in payload:
            payload["images"] = images
        json_body(payload)  # a payload that cannot be JSON is final, found before posting
        return payload

    def _settle(self, record: EventRecord, result: Outcome) -> Outcome:
        """The sender's outcome for ``record``; drops cached source ids once final."""
        if isinstance(result, (Delivered, Dead)):
            self._uploads.forget(record.event_id)
        if isinstance(result, Delivered):
            logger.debug("event %s delivered to %s", record.event_id, self.name)
        else:
            # A retryable failure is logged once per batch by the sender; per event it
            # would flood the log with a hundred lines each time the uplink blinks.
            final = isinstance(result, Dead)
            logger.log(logging.WARNING if final else logging.DEBUG,
                       "event %s not delivered to %s (%s): %s", record.event_id, self.name,
                       "final" if final else "will retry", result.reason)
        return result
