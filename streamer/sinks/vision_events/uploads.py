"""Each event's JPEGs uploaded once, their source ids remembered until the event is final.

A retried event must not upload its images again, nor a failure on image 2 upload images
0-1 again: the ids are kept per event, after each image, in a bounded cache (a lost entry
costs one re-upload). How long uploads take is smoothed here too, since it decides whether
uploading side by side pays. Kept apart from the sink because it is the state that outlives
one ``send``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from streamer.events.record import EventRecord
from streamer.sinks.base import Delivered
from streamer.sinks.http import halts_batch
from streamer.sinks.vision_events.api import Api, Failure, staged

# Uploaded-but-not-yet-posted events whose source ids we remember; bounded so an event
# that retries forever cannot grow memory without limit (a lost entry costs one re-upload).
MAX_CACHED_EVENTS = 10_000
# Uploads quicker than this (a server on the LAN or the box) gain nothing from running
# side by side, and the thread hand-offs cost more than they save: measured against the
# local test server, 8 in flight drained 430 events/s where one at a time drained 690.
# A cloud API over a real uplink (50 ms and up) is far above it: 8 in flight, 6-7x faster.
FAST_UPLOAD_S = 0.02


class Uploads:
    """Source ids of events' JPEGs; called from the sink's upload threads."""

    def __init__(self, api: Api, timeout_s: float) -> None:
        self._api = api
        self._timeout_s = timeout_s
        self._source_ids: OrderedDict[str, list[str]] = OrderedDict()
        self._lock = threading.Lock()
        # Seconds an upload took, smoothed (None before the first).
        self._upload_s: float | None = None

    @property
    def fast(self) -> bool:
        """Uploads are as quick as the threads that would overlap them: go one by one."""
        return self._upload_s is not None and self._upload_s < FAST_UPLOAD_S

    def source_ids(self, record: EventRecord) -> list[str]:
        """Source ids of the record's JPEGs, uploading only those not uploaded before.

        Raises:
            Failure: an upload failed (its reason names the image, unless it speaks for
                the whole server, such as a refused connection).
        """
        with self._lock:
            source_ids = list(self._source_ids.get(record.event_id, []))
        for index in range(len(source_ids), len(record.images)):
            filename = f"{record.event_id}_{index}.jpg"
            stage = f"upload of image {index}: "
            started = time.monotonic()
            try:
                response = self._api.request(
                    "/vision-events/upload",
                    self._timeout_s,
                    files={"file": (filename, record.images[index], "image/jpeg")},
                    data={"name": filename},
                )
            except Failure as failure:
                # "connection refused" speaks for the server, not for this image.
                server_wide = halts_batch(failure.result)
                raise Failure(failure.result if server_wide else staged(stage, failure.result)
                              ) from None
            result = self._api.classify(response, self._api.endpoint)
            took = time.monotonic() - started
            last = self._upload_s  # a stale read from another upload thread is harmless
            self._upload_s = took if last is None else 0.8 * last + 0.2 * took
            if not isinstance(result, Delivered):
                raise Failure(staged(stage, result))
            source_ids.append(self._api.source_id_from(response, stage))
            # Kept after each image so a failure on image 2 does not re-upload images 0-1.
            self._remember(record.event_id, source_ids)
        return source_ids

    def _remember(self, event_id: str, source_ids: list[str]) -> None:
        with self._lock:
            self._source_ids[event_id] = list(source_ids)
            self._source_ids.move_to_end(event_id)
            while len(self._source_ids) > MAX_CACHED_EVENTS:
                self._source_ids.popitem(last=False)

    def forget(self, event_id: str) -> None:
        """The event is final (delivered or dead): its ids are no longer needed."""
        with self._lock:
            self._source_ids.pop(event_id, None)

    def clear(self) -> None:
        with self._lock:
            self._source_ids.clear()
