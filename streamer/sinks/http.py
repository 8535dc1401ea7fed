"""What one HTTP answer (or failure) means for delivery: the one classifier every HTTP sink uses.

Vision Events and the webhook sink send different bodies but must agree on what an answer
means (docs/architecture.md, "Vision Events"): 2xx delivered; 408, 429, 5xx, timeouts and refused or
dropped connections retried with backoff, honouring ``Retry-After``; 401/403 pause the
sink (an operator must fix the key); any 3xx pauses it too (a redirect is a configuration
problem: the request is never repeated at the new place, so the key never goes there);
every other 4xx is final for that event. Keeping this in one function means a fix to the
policy reaches every sink at once. The outcomes are the delivery contract's
(:data:`streamer.events.sink_contract.Outcome`), so a sink hands them to its sender as is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from streamer.events.sink_contract import Dead, Delivered, Outcome, Paused, Retry
from streamer.redact import redact, url_secrets

# Statuses worth retrying besides 5xx: the request timed out or we were rate limited.
_RETRY_STATUSES = frozenset({408, 429})
_AUTH_STATUSES = frozenset({401, 403})
# Statuses that speak for the server rather than one request: stop the batch there.
_SERVER_WIDE_STATUSES = frozenset({429, 503})
REASON_BODY_CHARS = 200


@dataclass(frozen=True)
class Endpoint:
    """What the classifier needs to know about the sink that asked.

    ``url_key`` names the config key a redirect message tells the operator to fix;
    ``base_url`` (when the sink appends paths to it) lets that message suggest the new
    base; ``refused`` is the status line after a 401/403; ``secrets`` are masked in every
    reason; ``conflict_is_delivered``: a 409 means the server already holds this eventId;
    ``mask_urls``: the URL itself is a secret (a Slack-style token in its path), so a
    redirect target is shown as ``scheme://host/…`` only.
    """

    url_key: str
    refused: str
    secrets: tuple[str, ...] = ()
    base_url: str | None = None
    conflict_is_delivered: bool = False
    mask_urls: bool = False


# The most of an answer a sink reads: receipts are JSON of a few hundred bytes and an
# error page's first 200 characters are all a reason shows. A bound on the raw bytes (and
# no compression asked for) keeps even a deflate bomb's output to ~64 MiB.
MAX_ANSWER_BYTES = 64 * 1024
_DEADLINE = "streamer.deadline"
_CUT = "streamer.cut"


class _BoundedAnswer(httpx.SyncByteStream):
    """An answer's body, read no further than ``MAX_ANSWER_BYTES`` and no later than the
    request's deadline: past either the connection is dropped and the answer marked cut
    (a webhook answering 200 with 1 GiB took the process to 3.7 GB; one trickling a
    byte every 3 s held its sender for ever under a 10 s timeout, issue 28)."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: float, marks: dict[str, object]) -> None:
        self._inner = inner
        self._deadline = deadline
        self._marks = marks

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > MAX_ANSWER_BYTES:
                self._marks[_CUT] = f"its answer passed {MAX_ANSWER_BYTES // 1024} KiB"
                yield chunk[: len(chunk) - (seen - MAX_ANSWER_BYTES)]
                return
            yield chunk
            if time.monotonic() > self._deadline:
                self._marks[_CUT] = "its answer was still coming at the request's deadline"
                return

    def close(self) -> None:
        self._inner.close()


def _start_deadline(request: httpx.Request) -> None:
    """Request hook: the whole request, answer included, gets its read timeout once."""
    timeouts = request.extensions.get("timeout", {})
    total = timeouts.get("read") if isinstance(timeouts, dict) else None
    request.extensions[_DEADLINE] = time.monotonic() + (total if isinstance(total, (int, float)) else 30.0)
    request.headers["Accept-Encoding"] = "identity"


def _bound_answer(response: httpx.Response) -> None:
    """Response hook (headers in, body not yet read): read the body through the bounds."""
    deadline = response.request.extensions.get(_DEADLINE)
    if isinstance(response.stream, httpx.SyncByteStream) and isinstance(deadline, float):
        response.stream = _BoundedAnswer(response.stream, deadline, response.extensions)


def answer_cut(response: httpx.Response) -> str | None:
    """Why the answer's body was not read whole (too big, too slow), or None."""
    why = response.extensions.get(_CUT)
    return why if isinstance(why, str) else None


def make_client(timeout_s: float, in_flight: int = 1) -> httpx.Client:
    """The client an HTTP sink borrows: never follows a redirect (the key must not travel)
    and keeps a connection alive for each request in flight, so a backlog reuses them
    instead of paying a TCP and TLS handshake per request (issue 14). Each answer is read
    through :class:`_BoundedAnswer`: at most ``MAX_ANSWER_BYTES``, and not past the
    request's own timeout counted once for the whole request (issue 28); a cut answer is
    no receipt (:func:`outcome`).

    HTTP/1.1 on purpose: httpcore's sync HTTP/2 connection takes the next stream id without
    a lock (``get_next_available_stream_id`` before ``send_headers``), so two threads can
    open the same stream and break the connection for every request on it
    (encode/httpx#3002, open). Rare (5,000 threaded requests to a local h2 server did not
    hit it), but a sink that sends from threads stays on one connection per request.
    """
    connections = max(in_flight, 1) + 4  # + the batch POST and a spare or two
    return httpx.Client(
        timeout=timeout_s,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        event_hooks={"request": [_start_deadline], "response": [_bound_answer]},
    )


def outcome(result: httpx.Response | Exception, endpoint: Endpoint) -> Outcome:
    """Classify one request's answer, or the exception it raised, for ``endpoint``."""
    if isinstance(result, Exception):
        return _from_exception(result, endpoint)
    status = result.status_code
    cut = answer_cut(result)
    if 200 <= status < 300:
        if cut is not None:
            # The server may have taken the event, but no receipt came whole: send it
            # again (an eventId overwrites; a webhook receiver sees the same eventId).
            return Retry(f"HTTP {status} but {cut}; kept and sent again")
        return Delivered()
    after_s = parse_retry_after(result.headers.get("Retry-After"))
    if 300 <= status < 400:
        return Paused(_redirect_reason(result, endpoint), after_s)
    if status in _AUTH_STATUSES:
        # Kept, never dropped: a rotated or mistyped key is fixed by the operator, and
        # every event waiting meanwhile must still go out.
        return Paused(f"HTTP {status}: {endpoint.refused}", after_s)
    if status == 409 and endpoint.conflict_is_delivered:
        return Delivered(duplicate=True)
    if status in _RETRY_STATUSES or status >= 500:
        return Retry(f"HTTP {status}", after_s, server_wide=status in _SERVER_WIDE_STATUSES)
    text = " ".join(result.text[:REASON_BODY_CHARS].split())
    return Dead(redact(f"HTTP {status}: {text}", endpoint.secrets), status)


def _from_exception(exc: Exception, endpoint: Endpoint) -> Outcome:
    def masked(text: str) -> str:
        return redact(text, endpoint.secrets)

    if isinstance(exc, httpx.TimeoutException):
        # A connect timeout means the host is unreachable for every event of the batch;
        # a read timeout may be this request's size, so the rest are still tried.
        return Retry(
            f"timed out after {_timeout_of(exc)} ({type(exc).__name__})",
            server_wide=isinstance(exc, httpx.ConnectTimeout),
        )
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        reason = "connection refused" if "refused" in text.lower() else f"cannot connect: {text}"
        return Retry(masked(reason), server_wide=True)
    if isinstance(exc, httpx.RemoteProtocolError):
        return Retry(masked(f"connection closed by the server without an answer ({exc})"))
    # Any other transport error, or a bug: keep the event; it must never be lost.
    return Retry(masked(f"transport error: {type(exc).__name__}: {exc}"))


def _timeout_of(exc: httpx.TimeoutException) -> str:
    """The bound that ran out, read from the request (each request may carry its own)."""
    try:
        timeouts = exc.request.extensions.get("timeout", {})
    except RuntimeError:  # an exception made without a request
        return "the timeout"
    key = {httpx.ConnectTimeout: "connect", httpx.WriteTimeout: "write",
           httpx.PoolTimeout: "pool"}.get(type(exc), "read")
    value = timeouts.get(key)
    return f"{value:g} s" if isinstance(value, (int, float)) else "the timeout"


def _redirect_reason(response: httpx.Response, endpoint: Endpoint) -> str:
    location = response.headers.get("Location")
    if not location:
        return (f"{endpoint.url_key} answers HTTP {response.status_code} without a Location; "
                f"fix {endpoint.url_key}")
    target = str(response.url.join(location))
    if endpoint.mask_urls:
        shown = mask_url(target)
    else:
        shown = _suggested_base(str(response.url), target, endpoint.base_url)
        shown = redact(shown, endpoint.secrets)
    return f"{endpoint.url_key} redirects to {shown}; fix {endpoint.url_key}"


def _suggested_base(requested: str, target: str, base_url: str | None) -> str:
    """When ``https://new/vision-events/upload`` answers for ``{base}/vision-events/upload``,
    the operator should set ``https://new``: strip the path the sink appended."""
    if base_url and requested.startswith(base_url):
        tail = requested[len(base_url):]
        if tail and target.endswith(tail):
            return target[: -len(tail)]
    return target


def mask_url(url: str) -> str:
    """``scheme://host[:port]/…``: enough to say where, nothing of a token in the path."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<url>"
    if not parts.scheme or not host:
        return "<url>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}/…"


def secret_url_parts(url: str) -> tuple[str, ...]:
    """Literal parts of a URL that is itself a secret (a webhook's), to mask everywhere: the
    URL, its path and query when long enough to be a token (a short path such as ``/hook``
    is left alone), and any credentials or query values in it (:func:`url_secrets`)."""
    out = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return tuple(out)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(parts.path) >= 12:
        out += [tail, parts.path]
    out += url_secrets(url)
    return tuple(dict.fromkeys(out))


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


def halts_batch(result: Outcome) -> bool:
    """Whether the rest of a batch would meet the same answer (do not try it now)."""
    return isinstance(result, Paused) or (isinstance(result, Retry) and result.server_wide)
