"""The event writer: the frame loop's only door to the outbox.

The frame loop calls :meth:`EventWriter.submit`, which never blocks (rule 1 of
design.md): a full queue counts a drop and warns, rate limited. The writer thread
renders the snapshot, encodes the JPEG, builds the payload and commits it; only then is
the event accepted. ``stop()`` enqueues a sentinel and drains what is left, like the
standard library's ``QueueListener``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.events.outbox import Outbox
from streamer.events.payload import build_payload
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord
from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame

log = logging.getLogger("streamer.events")

SnapshotRenderer = Callable[[Frame, RuleEvent], np.ndarray]
_STOP = object()


@dataclass(frozen=True)
class AcceptedEvent:
    """An event committed to the outbox, as the summary and the monitor show it."""

    event_id: str
    event: RuleEvent
    timestamp: str
    snapshot: bytes


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


class EventWriter:
    """Owns the bounded queue and the writer thread.

    Args:
        outbox: where accepted events go.
        sinks: names of the sinks each event is queued for.
        device_id, stream_id: the payload's ``deviceId`` and ``streamId``.
        render_snapshot: draws the event on a copy of its frame (runs on this thread).
        on_accepted: called after each commit (wakes the senders).
        include_input_image: also store the raw frame as a second JPEG, referenced from
            the snapshot's images entry (a sink's ``upload_input_image``).
    """

    def __init__(
        self,
        outbox: Outbox,
        sinks: Sequence[str],
        device_id: str,
        stream_id: str,
        render_snapshot: SnapshotRenderer,
        queue_size: int = 256,
        on_accepted: Callable[[], None] = lambda: None,
        include_input_image: bool = False,
    ) -> None:
        self._outbox = outbox
        self._sinks = list(sinks)
        self._device_id = device_id
        self._stream_id = stream_id
        self._render = render_snapshot
        self._on_accepted = on_accepted
        self._include_input_image = include_input_image
        self._dropped_recorded = 0
        self._queue: queue.Queue[tuple[RuleEvent, Frame] | object] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._last_drop_warning = 0.0
        self.accepted_total = 0
        self.dropped_total = 0
        self.failed_total = 0
        self.accepted_by_rule: Counter[str] = Counter()
        # The latest few, for the run summary and the monitor (no database read there).
        self.recent: deque[AcceptedEvent] = deque(maxlen=20)

    def start(self) -> None:
        self._thread.start()

    def submit(self, event: RuleEvent, frame: Frame) -> bool:
        """Hand an event over without waiting; ``False`` (and a counted drop) when full."""
        try:
            self._queue.put_nowait((event, frame))
            return True
        except queue.Full:
            self.dropped_total += 1
            now = time.monotonic()
            if now - self._last_drop_warning > 5.0:
                self._last_drop_warning = now
                log.warning(
                    "event queue full: dropped an event of rule %s (%d dropped so far); "
                    "the outbox disk is too slow",
                    event.rule_id,
                    self.dropped_total,
                )
            return False

    def stop(self, timeout: float = 30.0) -> bool:
        """Write everything already submitted, then end the thread; False if it hung."""
        if not self._thread.is_alive():
            return True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._record_drops()
                return
            event, frame = item  # type: ignore[misc]
            try:
                self._write(event, frame)
            except Exception as exc:  # one bad event must not end the writer
                self.failed_total += 1
                log.error("could not store an event of rule %s: %s", event.rule_id, exc)

    def _write(self, event: RuleEvent, frame: Frame) -> None:
        images = [encode_jpeg(self._render(frame, event))]
        payload = build_payload(event, frame.wall_ts, self._device_id, self._stream_id)
        if self._include_input_image:
            images.append(encode_jpeg(frame.image))
            payload["images"][0][INPUT_IMAGE_KEY] = 1
        record = EventRecord(
            event_id=payload["eventId"],
            payload=payload,
            images=images,
            created_ts=time.time(),
            rule_id=event.rule_id,
        )
        self._outbox.add(record, self._sinks)
        self.accepted_total += 1
        self.accepted_by_rule[event.rule_id] += 1
        self.recent.append(AcceptedEvent(record.event_id, event, payload["timestamp"], images[0]))
        self._record_drops()
        self._on_accepted()

    def _record_drops(self) -> None:
        """Persist the drop count from this thread: the frame loop never touches the disk."""
        dropped = self.dropped_total
        if dropped > self._dropped_recorded:
            try:
                self._outbox.count_dropped(self._sinks, dropped - self._dropped_recorded)
                self._dropped_recorded = dropped
            except Exception as exc:  # the in-memory count still reaches the summary
                log.error("could not record dropped events in the outbox: %s", exc)
