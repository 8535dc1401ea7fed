"""Turning what the frame loop submitted into the record the outbox stores.

Runs on the event writer's thread: drawing the snapshot, encoding the JPEGs and building
the payload are the costly steps kept off the frame loop. Kept apart from the writer, whose
job is order, retries and accounting, not what an event's record holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from streamer.events.clips import ClipPlan, plan_metadata
from streamer.events.payload import build_payload
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord
from streamer.imaging import encode_jpeg
from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame

SnapshotRenderer = Callable[[Frame, RuleEvent], np.ndarray]


@dataclass(frozen=True)
class Submitted:
    """What the frame loop hands over: the event, its frame, and the id and clip plan it
    made up front (so the clip recorder knows the event's id)."""

    event: RuleEvent
    frame: Frame
    event_id: str | None = None
    clip: ClipPlan | None = None


@dataclass(frozen=True)
class Prepared:
    """An event ready to commit: what waits in memory while the outbox fails."""

    record: EventRecord
    event: RuleEvent
    nbytes: int


@dataclass(frozen=True)
class Preparer:
    """Makes records for one stream.

    Args:
        render: draws the event on a copy of its frame.
        device_id, stream_id: the payload's ``deviceId`` and ``streamId``.
        include_input_image: also store the raw frame as a second JPEG, referenced from
            the snapshot's images entry (a sink's ``upload_input_image``).
    """

    render: SnapshotRenderer
    device_id: str
    stream_id: str
    include_input_image: bool = False

    def __call__(self, item: Submitted) -> Prepared:
        event, frame = item.event, item.frame
        images = [encode_jpeg(self.render(frame, event))]
        payload = build_payload(event, frame.wall_ts, self.device_id, self.stream_id, item.event_id)
        if self.include_input_image:
            images.append(encode_jpeg(frame.image))
            payload["images"][0][INPUT_IMAGE_KEY] = 1
        if item.clip is not None:
            payload["customMetadata"].update(plan_metadata(item.clip))
        record = EventRecord(
            event_id=payload["eventId"],
            payload=payload,
            images=images,
            created_ts=time.time(),
            rule_id=event.rule_id,
            clip=item.clip,
        )
        return Prepared(record, event, sum(len(image) for image in images) + 2048)
