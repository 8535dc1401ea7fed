"""A local Vision Events server for tests: the real HTTP contract, strict checks, a fault script.

Sinks are tested against this over real sockets (style.md section 7) instead of a mocked
client, so retries, timeouts, dropped connections and restarts behave as they do in the
field. It is strict on purpose: a payload it accepts should be one the real API accepts,
so it refuses unknown keys and names the offending field in every 400.

Usage in a test::

    with VisionEventsServer(api_key="test-key", use_cases=("site-safety",)) as server:
        server.script(Pass(), Status(500))   # upload goes through, the event POST gets a 500
        ...
        assert server.post_counts[event_id] == 1

Standalone (for trying a config by hand)::

    python tests/support/vision_events_server.py --port 9000 --api-key K --use-case site-safety

Only the standard library is used, so the standalone form runs anywhere.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

EVENT_TYPES = ("safety_alert", "inventory_count", "quality_check", "custom", "operator_feedback")
MAX_BATCH = 100
MAX_METADATA_KEYS = 100
MAX_METADATA_VALUE_CHARS = 1000
MAX_EXTERNAL_ID_CHARS = 1000
_METADATA_KEY = re.compile(r"[A-Za-z0-9_ -]{1,100}")

_TOP_KEYS = {
    "eventId", "eventType", "useCaseId", "timestamp", "deviceId", "streamId", "workflowId",
    "images", "eventData", "customMetadata",
}
_IMAGE_KEYS = {"sourceId", "inputSourceId", "label", "objectDetections"}
_DETECTION_KEYS = {"class", "x", "y", "width", "height", "confidence"}
# Per type: (required fields, optional fields) of eventData.
_EVENT_DATA_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "safety_alert": ({"alertType", "severity"}, {"description", "externalId"}),
    "inventory_count": ({"location", "itemCount", "itemType"}, {"externalId"}),
    "quality_check": ({"result"}, {"externalId"}),
    "custom": ({"value"}, {"externalId"}),
    "operator_feedback": ({"relatedEventId", "feedback"}, {"externalId"}),
}


# --- fault script ----------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """Answer ``code`` instead of processing the request.

    ``body``: a dict/list is sent as JSON, str/bytes as is; ``None`` sends
    ``{"error": "scripted <code>"}``. ``retry_after`` becomes the ``Retry-After`` header
    (seconds, or a preformatted HTTP date string); ``location`` the ``Location`` header
    (for a scripted redirect).
    """

    code: int
    body: Any = None
    retry_after: float | int | str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Delay:
    """Sleep ``seconds`` after reading the request, then process it normally.

    Past the client's timeout the request still takes effect on the server, as a slow
    real server's would: that is the case eventId overwrites exist for.
    """

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the socket without answering."""


@dataclass(frozen=True)
class Pass:
    """Process the request normally; lets a script aim at the second or later request."""


Action = Union[Status, Delay, Drop, Pass]


# --- contract checks -------------------------------------------------------------------


class ContractError(ValueError):
    """A payload that breaks the Vision Events contract; ``str()`` names the field."""


def _is_number(value: object) -> bool:
    # bool is an int subclass; JSON true is not a coordinate.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require_str(obj: dict[str, Any], key: str, where: str, *, required: bool) -> None:
    if key not in obj:
        if required:
            raise ContractError(f"{where}{key}: required")
        return
    if not isinstance(obj[key], str):
        raise ContractError(f"{where}{key}: expected a string, got {type(obj[key]).__name__}")


def _check_unknown(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ContractError(f"{where}{unknown[0]}: unknown field")


def _check_uuid(value: object, field: str) -> None:
    if not isinstance(value, str):
        raise ContractError(f"{field}: expected a uuid string, got {type(value).__name__}")
    try:
        uuid.UUID(value)
    except ValueError:
        raise ContractError(f"{field}: not a uuid: {value[:60]!r}") from None


def _check_timestamp(value: object) -> None:
    if not isinstance(value, str):
        raise ContractError("timestamp: expected an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ContractError(f"timestamp: not ISO-8601: {value[:60]!r}") from None
    # A naive or non-UTC time would be read as some other moment by the server.
    if parsed.utcoffset() != timedelta(0):
        raise ContractError(f"timestamp: must be UTC (Z or +00:00), got {value[:60]!r}")


def _check_images(images: object, uploads: dict[str, bytes]) -> None:
    if not isinstance(images, list):
        raise ContractError("images: expected a list")
    for i, image in enumerate(images):
        where = f"images[{i}]."
        if not isinstance(image, dict):
            raise ContractError(f"images[{i}]: expected an object")
        _check_unknown(image, _IMAGE_KEYS, where)
        source_keys = ["sourceId"] + (["inputSourceId"] if "inputSourceId" in image else [])
        for key in source_keys:
            _require_str(image, key, where, required=True)
            if image[key] not in uploads:
                raise ContractError(f"{where}{key}: unknown source id {image[key][:60]!r}")
        _require_str(image, "label", where, required=False)
        detections = image.get("objectDetections", [])
        if not isinstance(detections, list):
            raise ContractError(f"{where}objectDetections: expected a list")
        for j, det in enumerate(detections):
            dwhere = f"{where}objectDetections[{j}]."
            if not isinstance(det, dict):
                raise ContractError(f"{where}objectDetections[{j}]: expected an object")
            _check_unknown(det, _DETECTION_KEYS, dwhere)
            _require_str(det, "class", dwhere, required=True)
            for key in ("x", "y", "width", "height", "confidence"):
                if key not in det:
                    raise ContractError(f"{dwhere}{key}: required")
                if not _is_number(det[key]):
                    raise ContractError(f"{dwhere}{key}: expected a number, got {det[key]!r}")
            if not 0.0 <= det["confidence"] <= 1.0:
                raise ContractError(
                    f"{dwhere}confidence: must be in [0, 1], got {det['confidence']}"
                )


def _check_event_data(event_type: str, data: object) -> None:
    if not isinstance(data, dict):
        raise ContractError("eventData: expected an object")
    required, optional = _EVENT_DATA_FIELDS[event_type]
    _check_unknown(data, required | optional, "eventData.")
    for key in sorted(required):
        if key not in data:
            raise ContractError(f"eventData.{key}: required for {event_type}")
    external_id = data.get("externalId")
    if external_id is not None:
        if not isinstance(external_id, str):
            raise ContractError("eventData.externalId: expected a string")
        if len(external_id) > MAX_EXTERNAL_ID_CHARS:
            raise ContractError(f"eventData.externalId: longer than {MAX_EXTERNAL_ID_CHARS} chars")
    if event_type == "safety_alert":
        _require_str(data, "alertType", "eventData.", required=True)
        if data["severity"] not in ("low", "medium", "high"):
            raise ContractError(
                f"eventData.severity: expected low|medium|high, got {data['severity']!r}"
            )
        _require_str(data, "description", "eventData.", required=False)
    elif event_type == "inventory_count":
        _require_str(data, "location", "eventData.", required=True)
        _require_str(data, "itemType", "eventData.", required=True)
        count = data["itemCount"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ContractError(f"eventData.itemCount: expected an integer >= 0, got {count!r}")
    elif event_type == "quality_check":
        if data["result"] not in ("pass", "fail"):
            raise ContractError(f"eventData.result: expected pass|fail, got {data['result']!r}")
    elif event_type == "custom":
        if data["value"] is None:
            raise ContractError("eventData.value: must not be null")
    elif event_type == "operator_feedback":
        _check_uuid(data["relatedEventId"], "eventData.relatedEventId")
        if data["feedback"] not in ("correct", "incorrect", "inconclusive"):
            raise ContractError(
                "eventData.feedback: expected correct|incorrect|inconclusive, "
                f"got {data['feedback']!r}"
            )


def _check_metadata(metadata: object) -> None:
    if not isinstance(metadata, dict):
        raise ContractError("customMetadata: expected an object")
    if len(metadata) > MAX_METADATA_KEYS:
        raise ContractError(f"customMetadata: more than {MAX_METADATA_KEYS} keys ({len(metadata)})")
    for key, value in metadata.items():
        if not _METADATA_KEY.fullmatch(key):
            raise ContractError(
                f"customMetadata: key {key[:60]!r} must match [A-Za-z0-9_ -]{{1,100}}"
            )
        if isinstance(value, str):
            if len(value) > MAX_METADATA_VALUE_CHARS:
                raise ContractError(
                    f"customMetadata.{key}: value longer than {MAX_METADATA_VALUE_CHARS} chars"
                )
        elif not (_is_number(value) or isinstance(value, bool)):
            raise ContractError(f"customMetadata.{key}: expected a string, number or bool")


def validate_event(event: object, use_cases: set[str], uploads: dict[str, bytes]) -> None:
    """Raise ``ContractError`` naming the first field of ``event`` that breaks the contract."""
    if not isinstance(event, dict):
        raise ContractError("event: expected a JSON object")
    _check_unknown(event, _TOP_KEYS, "")
    if "eventId" not in event:
        raise ContractError("eventId: required")
    _check_uuid(event["eventId"], "eventId")
    if "eventType" not in event:
        raise ContractError("eventType: required")
    if event["eventType"] not in EVENT_TYPES:
        raise ContractError(
            f"eventType: expected one of {', '.join(EVENT_TYPES)}, got {event['eventType']!r}"
        )
    if "useCaseId" not in event:
        raise ContractError("useCaseId: required")
    if event["useCaseId"] not in use_cases:
        raise ContractError(f"useCaseId: unknown use case {str(event['useCaseId'])[:60]!r}")
    if "timestamp" not in event:
        raise ContractError("timestamp: required")
    _check_timestamp(event["timestamp"])
    for key in ("deviceId", "streamId", "workflowId"):
        _require_str(event, key, "", required=False)
    _check_images(event.get("images", []), uploads)
    _check_event_data(event["eventType"], event.get("eventData", {}))
    if "customMetadata" in event:
        _check_metadata(event["customMetadata"])


# --- multipart -------------------------------------------------------------------------


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Return ``{field name: (filename or None, raw bytes)}`` of a multipart/form-data body.

    The body is split by hand on the boundary because the ``email`` body parser may
    rewrite line endings inside binary parts; ``email`` only parses the part headers.
    """
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise ContractError("Content-Type: expected multipart/form-data")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ContractError("Content-Type: multipart boundary missing")
    fields: dict[str, tuple[str | None, bytes]] = {}
    chunks = body.split(b"--" + boundary.encode("latin-1"))
    # chunks[0] is the preamble; a chunk starting with "--" is the closing delimiter.
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ContractError("multipart: part without a header/body separator")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        part = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ContractError("multipart: part without a name")
        filename = part.get_param("filename", header="content-disposition")
        fields[name] = (filename if isinstance(filename, str) else None, content)
    return fields


# --- HTTP ------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    """Keeps open connections so ``stop()`` can cut keep-alive clients off, like a crash."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # a client with many requests in flight connects all at once

    def __init__(self, address: tuple[str, int], owner: VisionEventsServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
            self.owner.connections_total += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left makes the late answer fail; that is expected here.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # BrokenPipe, ConnectionReset, ... are OSErrors
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so that clients keep connections alive, as against the real API.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
    # would add ~40 ms to every answer and hide the client's real throughput.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are in server.requests; stderr noise hides test output

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = self.path.split("?", 1)[0]
        with owner._in_flight_lock:
            owner.in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
        try:
            if owner.latency_s:
                time.sleep(owner.latency_s)
            self._act(method, path, body)
        finally:
            with owner._in_flight_lock:
                owner.in_flight -= 1

    def _act(self, method: str, path: str, body: bytes) -> None:
        owner = self.server.owner
        action = owner._next_action()
        if isinstance(action, Drop):
            owner._record(method, path, 0)
            self.close_connection = True
            return
        if isinstance(action, Delay):
            time.sleep(action.seconds)
        if isinstance(action, Status):
            payload = action.body
            if payload is None:
                payload = {"error": f"scripted {action.code}"}
            headers: dict[str, str] = {}
            if action.retry_after is not None:
                headers["Retry-After"] = str(action.retry_after)
            if action.location is not None:
                headers["Location"] = action.location
            self._answer(method, path, action.code, payload, headers)
            return
        try:
            code, payload = owner._route(method, path, self.headers, body)
        except Exception as exc:  # a checker bug should read as a 500, not a dropped socket
            code, payload = 500, {"error": f"test server bug: {type(exc).__name__}: {exc}"}
        self._answer(method, path, code, payload, {})

    def _answer(
        self, method: str, path: str, code: int, payload: Any, headers: dict[str, str]
    ) -> None:
        if isinstance(payload, bytes):
            data, content_type = payload, "application/octet-stream"
            if path.startswith("/images/"):
                content_type = "image/jpeg"
        elif isinstance(payload, str):
            data, content_type = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        # Recorded before writing so a test that reads server.requests right after the
        # client returns never misses the last one.
        self.server.owner._record(method, path, code)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class VisionEventsServer:
    """A Vision Events API on 127.0.0.1, in a daemon thread; use as a context manager.

    State a test can read (guarded by ``lock``; read after the client call returned):
    ``events`` (eventId → last stored payload), ``uploads`` (sourceId → JPEG bytes),
    ``upload_names`` (sourceId → the ``name`` field, or the filename), ``requests``
    ((method, path, status); status 0 = dropped without answer) and ``post_counts``
    (eventId → how many times it was stored; a re-POST overwrites and counts again),
    ``headers`` ((path, request headers) of each API request) and ``upload_fields``
    (sourceId → the multipart field names of its upload).

    ``conflict_on_known``: answer ``409 Conflict`` to an event whose eventId is already
    stored (one POST, or a whole batch holding one: all-or-nothing) instead of
    overwriting, as an API that refuses duplicates would; ``conflicts`` counts them.
    ``on_store`` is called with each stored list of events after storing and before the
    answer goes out (a test can hold the answer there, then kill the client).

    ``latency_s``: every request waits this long before it is handled, as over a real
    uplink (round trip plus transfer); unlike a scripted ``Delay`` it is never used up and
    leaves the fault script alone. ``max_in_flight`` is the most requests it has seen
    being handled at once, ``connections_total`` the TCP connections it has accepted.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        use_cases: tuple[str, ...] | list[str] = ("site-safety",),
        host: str = "127.0.0.1",
        port: int = 0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        conflict_on_known: bool = False,
        on_store: Callable[[list[dict[str, Any]]], None] | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.latency_s = latency_s
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections_total = 0
        self._in_flight_lock = threading.Lock()
        self.conflict_on_known = conflict_on_known
        self.on_store = on_store
        self.conflicts = 0
        self.api_key = api_key
        self.use_cases = set(use_cases)
        self.host = host
        self.port = port
        self.on_event = on_event
        self.lock = threading.Lock()
        self.events: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.upload_names: dict[str, str | None] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.post_counts: dict[str, int] = {}
        self.headers: list[tuple[str, dict[str, str]]] = []
        self.upload_fields: dict[str, list[str]] = {}
        self._script: deque[Action] = deque()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> VisionEventsServer:
        """Listen (again): the first start picks a free port, later ones reuse it."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"vision-events-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections, so clients see a refused connection.

        Stored events and uploads are kept, as a restarted real server would keep them.
        """
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with httpd.connections_lock:
            open_connections = list(httpd.connections)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> VisionEventsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers -------------------------------------------------------------------

    def script(self, *actions: Action) -> None:
        """Queue fault actions, consumed one per incoming request (any path), in order."""
        with self.lock:
            self._script.extend(actions)

    def pending_script(self) -> int:
        """How many scripted actions have not been consumed yet."""
        with self.lock:
            return len(self._script)

    def clear(self) -> None:
        """Forget events, uploads, requests, counts and any unconsumed script."""
        with self.lock:
            self.events.clear()
            self.uploads.clear()
            self.upload_names.clear()
            self.requests.clear()
            self.post_counts.clear()
            self.headers.clear()
            self.upload_fields.clear()
            self._script.clear()

    def paths(self) -> list[str]:
        """Paths of the requests so far, in order (for asserting what a client sent)."""
        with self.lock:
            return [path for _, path, _ in self.requests]

    # -- internals (called from handler threads) ----------------------------------------

    def _next_action(self) -> Action | None:
        with self.lock:
            return self._script.popleft() if self._script else None

    def _record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((method, path, status))

    def _route(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/images/"):
            with self.lock:
                data = self.uploads.get(path[len("/images/"):])
            return (200, data) if data is not None else (404, {"error": "no such image"})
        if method != "POST" or path not in ("/vision-events", "/vision-events/batch",
                                            "/vision-events/upload"):
            return 404, {"error": f"no route for {method} {path}"}
        with self.lock:
            self.headers.append((path, dict(headers.items())))
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "invalid or missing API key"}
        try:
            if path == "/vision-events/upload":
                return self._upload(headers.get("Content-Type", ""), body)
            try:
                document = json.loads(body)
            except ValueError as exc:
                raise ContractError(f"body: not valid JSON ({exc})") from None
            if path == "/vision-events":
                return self._create([document])
            if not isinstance(document, dict) or not isinstance(document.get("events"), list):
                raise ContractError("events: expected a list")
            events = document["events"]
            if not 1 <= len(events) <= MAX_BATCH:
                raise ContractError(f"events: expected 1 to {MAX_BATCH} events, got {len(events)}")
            return self._create(events, batch=True)
        except ContractError as exc:
            return 400, {"error": str(exc)}

    def _upload(self, content_type: str, body: bytes) -> tuple[int, Any]:
        fields = parse_multipart(content_type, body)
        if "file" not in fields:
            raise ContractError("file: required")
        filename, data = fields["file"]
        if not data.startswith(b"\xff\xd8"):
            raise ContractError("file: not a JPEG (expected FF D8 at the start)")
        name_field = fields.get("name")
        name = name_field[1].decode("utf-8", "replace") if name_field else filename
        source_id = str(uuid.uuid4())
        with self.lock:
            self.uploads[source_id] = data
            self.upload_names[source_id] = name
            self.upload_fields[source_id] = list(fields)
        url = f"{self.url}/images/{source_id}"
        return 201, {"success": True, "sourceId": source_id, "url": url}

    def _create(self, events: list[Any], batch: bool = False) -> tuple[int, Any]:
        with self.lock:
            uploads = dict(self.uploads)
        # All-or-nothing: a batch with one bad event stores none, so the client can split it.
        for i, event in enumerate(events):
            try:
                validate_event(event, self.use_cases, uploads)
            except ContractError as exc:
                raise ContractError(f"events[{i}].{exc}" if batch else str(exc)) from None
        with self.lock:
            if self.conflict_on_known:
                known = [i for i, event in enumerate(events) if event["eventId"] in self.events]
                if known:
                    self.conflicts += 1
                    where = f"events[{known[0]}]." if batch else ""
                    event_id = events[known[0]]["eventId"]
                    return 409, {"error": f"{where}eventId: {event_id} already exists"}
            for event in events:
                self.events[event["eventId"]] = event
                self.post_counts[event["eventId"]] = self.post_counts.get(event["eventId"], 0) + 1
        if self.on_store is not None:
            self.on_store(events)
        if self.on_event is not None:
            for event in events:
                self.on_event(event)
        return 201, {"created": len(events), "eventIds": [event["eventId"] for event in events]}


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C, printing each stored event as one JSON line."""
    parser = argparse.ArgumentParser(
        description="Local Vision Events API for trying streamer by hand."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="wait this long before handling each request (a slow uplink)")
    parser.add_argument("--use-case", action="append", dest="use_cases",
                        help="a known useCaseId (repeatable; default: site-safety)")
    args = parser.parse_args(argv)

    def show(event: dict[str, Any]) -> None:
        print(json.dumps(event, sort_keys=True), flush=True)

    server = VisionEventsServer(args.api_key, tuple(args.use_cases or ["site-safety"]),
                                host=args.host, port=args.port, on_event=show,
                                latency_s=args.latency_ms / 1000)
    # A shell's background jobs ignore SIGINT, so `kill` (SIGTERM) must stop it cleanly too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.start()
    use_cases = ", ".join(sorted(server.use_cases))
    print(f"Vision Events server on {server.url} (use cases: {use_cases})",
          file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
