"""The Vision Events API's HTTP conversation: authenticated POSTs that never follow a
redirect, every answer classified, and what an answer must hold to count as a receipt.

Kept apart from the sink so that what "the server has it" means (a ``sourceId`` for an
upload, ``created``/``eventIds`` for a create) is read in one place, and the sink's code is
about which events to send, in what order and how many at once.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx

from streamer.redact import redact
from streamer.sinks.base import Dead, Delivered, Outcome, Paused, Retry
from streamer.sinks.http import REASON_BODY_CHARS, Endpoint, outcome


class Failure(Exception):
    """One failed request, already classified by :func:`streamer.sinks.http.outcome`."""

    def __init__(self, result: Retry | Dead | Paused) -> None:
        super().__init__(result.reason)
        self.result = result


def json_body(document: object) -> bytes:
    """``document`` as compact JSON; one that cannot be JSON is final for its event."""
    try:
        return json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise Failure(Dead(f"payload is not valid JSON: {exc}")) from None


class Api:
    """Requests to ``base_url`` with the key; borrows the runtime's ``client``.

    ``went_through`` says whether the latest answer was a success (written from upload
    threads; a stale read costs the sink at most one probe or one wasted wave).
    """

    def __init__(self, client: httpx.Client, base_url: str, api_key: str) -> None:
        self._client = client
        self._base_url = base_url
        self._api_key = api_key
        self.endpoint = Endpoint(
            url_key="api_url", refused="the API key was refused; fix the key",
            secrets=(api_key,), base_url=base_url,
        )
        # A 409 means "already stored" only for one event POSTed alone: on a batch it
        # says that some event of it is known, not which, so the batch is split instead.
        self.single = replace(self.endpoint, conflict_is_delivered=True)
        self.closed = False
        self.went_through = False

    def request(self, path: str, timeout_s: float, **kwargs: Any) -> httpx.Response:
        """POST to ``api_url + path``, never following a redirect (the key must not go to
        another place); a transport failure is raised as a classified ``Failure``."""
        if self.closed or self._client.is_closed:
            raise Failure(Retry("the sink is shutting down", server_wide=True))
        headers = {"Authorization": f"Bearer {self._api_key}", **kwargs.pop("headers", {})}
        try:
            return self._client.post(self._base_url + path, headers=headers, timeout=timeout_s,
                                     follow_redirects=False, **kwargs)
        except httpx.TransportError as exc:
            self.went_through = False
            result = outcome(exc, self.endpoint)
            assert not isinstance(result, Delivered)
            raise Failure(result) from None

    def classify(self, response: httpx.Response, endpoint: Endpoint) -> Outcome:
        """What ``response`` means, remembered in ``went_through``."""
        result = outcome(response, endpoint)
        self.went_through = isinstance(result, Delivered)
        return result

    def post(
        self, path: str, body: bytes, endpoint: Endpoint, timeout_s: float
    ) -> tuple[Outcome, httpx.Response | None]:
        """POST a JSON ``body``; its outcome and the answer to read receipts from."""
        response = self.request(path, timeout_s, content=body,
                                headers={"Content-Type": "application/json"})
        return self.classify(response, endpoint), response

    def source_id_from(self, response: httpx.Response, stage: str) -> str:
        """The ``sourceId`` of an upload's 2xx answer."""
        try:
            source_id = response.json().get("sourceId")
        except (ValueError, AttributeError):
            source_id = None
        if not isinstance(source_id, str) or not source_id:
            # A 2xx without a source id is usually a proxy or portal page, not the API:
            # retry rather than dead-letter an event that is fine.
            raise Failure(Retry(
                self.redact(f"{stage}HTTP {response.status_code} without a sourceId: "
                            f"{answer_text(response)}")
            ))
        return source_id

    def redact(self, text: str) -> str:
        return redact(text, (self._api_key,))


def answer_text(response: httpx.Response) -> str:
    """The start of an answer's body on one line, for a reason."""
    return " ".join(response.text[:REASON_BODY_CHARS].split())


def staged(stage: str, result: Retry | Dead | Paused) -> Retry | Dead | Paused:
    """``result`` with ``stage`` ("upload of image 1: ") before its reason; a pause keeps
    its reason as is, since it is the sink's status line."""
    if isinstance(result, Paused):
        return result
    return replace(result, reason=stage + result.reason)


def confirmed_ids(response: httpx.Response, sent: list[str]) -> set[str]:
    """The eventIds a 2xx create answer (batch or single) confirms: its ``eventIds`` when
    given, else all of them when ``created`` counts every event; none when the answer says
    neither (a proxy page is not a receipt)."""
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
