"""The events stage as the pipeline sees it: the writer's hand-off, its status and the
recent events the page lists. With ``deliver`` off (``replay`` without --send) there is no
writer and events stay with the caller."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from streamer.events.clips import ClipPlan, StoredClip
from streamer.events.writer import EventWriter
from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame

log = logging.getLogger("streamer.pipeline")


class EventsStage:
    def __init__(self, writer: EventWriter | None) -> None:
        self.writer = writer

    def start(self) -> None:
        if self.writer is not None:
            self.writer.start()

    def submit(
        self, event: RuleEvent, frame: Frame, event_id: str | None = None,
        clip: ClipPlan | None = None,
    ) -> bool:
        """Never waits; ``event_id`` becomes the payload's eventId, ``clip`` the clip it
        expects (see :meth:`EventWriter.submit`). False when the event was not taken
        (the queue was full, or there is no writer): no clip is started for it."""
        if self.writer is None:
            return False
        return self.writer.submit(event, frame, event_id=event_id, clip=clip)

    def attach_clip(self, event_id: str, mp4: bytes | None, meta: dict[str, Any]) -> None:
        """The recorder's hand-off of an event's MP4 (None: failed); never waits."""
        if self.writer is not None:
            self.writer.attach_clip(event_id, mp4, meta)

    def clip(self, event_id: str) -> StoredClip | None:
        """An event's stored clip (the monitor's ``clip.mp4``); read on the caller's thread."""
        if self.writer is None:
            return None
        try:
            return self.writer.outbox.clip(event_id)
        except sqlite3.Error as exc:
            log.warning("cannot read the clip of event %s: %s", event_id, exc)
            return None

    def stop(self, give_up_s: float) -> None:
        """A failing outbox gets ``give_up_s`` before its events are counted unstored."""
        if self.writer is not None and not self.writer.stop(give_up_s=give_up_s):
            log.error("the event writer did not finish in time")

    def status(self) -> dict[str, object]:
        """``/api/status``'s ``events`` (empty while there is no writer)."""
        return {"events": self.counters()}

    def counters(self) -> dict[str, Any]:
        """The writer's counters (what ``/api/status`` shows under ``events``); empty while
        there is no writer."""
        writer = self.writer
        if writer is None:
            return {}
        return {
            "accepted_total": writer.accepted_total,
            "dropped_total": writer.dropped_total,
            "unstored_total": writer.unstored_total,
            "unstored_reasons": {r: n for r, n in dict(writer.unstored_reasons).items() if n > 0},
            "waiting": writer.waiting,
            "waiting_mb": round(writer.waiting_bytes / 2**20, 3),
            "degraded": bool(writer.store_error),
            "store_error": writer.store_error,
            "by_rule": dict(writer.accepted_by_rule),
            "clips": {
                "attached_total": writer.clips_attached_total,
                "lost_total": writer.clips_lost_total,
                "orphaned_total": writer.clips_orphaned_total,
            },
        }

    def recent(self, limit: int = 20) -> list[dict[str, object]]:
        """The latest events accepted in this run, newest first."""
        if self.writer is None:
            return []
        items = list(self.writer.recent)[-limit:]
        try:
            clips = self.writer.outbox.clip_states([item.event_id for item in items])
        except sqlite3.Error as exc:  # the list matters more than its clips
            log.warning("cannot read clip states: %s", exc)
            clips = {}
        return [
            {
                "eventId": item.event_id,
                "timestamp": item.timestamp,
                "rule_id": item.event.rule_id,
                "description": item.event.describe(),
                "reason": item.event.reason,
                "t_s": round(item.event.t_s, 3),
                "delivery": "accepted",
                "clip": clips.get(item.event_id),
            }
            for item in reversed(items)
        ]

    def history(self, limit: int = 20, **filters: Any) -> list[dict[str, object]]:
        """The monitor's event list: the outbox's alerts, newest first (``filters`` as
        :meth:`Queries.history`: before, rule, verdict, since_ts, until_ts), so the list
        outlives a restart; this run's in memory when the outbox cannot be read."""
        if self.writer is None:
            return []
        try:
            rows = self.writer.outbox.queries.history(limit, **filters)
            clips = self.writer.outbox.clip_states([str(row["eventId"]) for row in rows])
        except sqlite3.Error as exc:
            log.warning("cannot read the event history from the outbox: %s", exc)
            return [] if filters.get("before") else self.recent(limit)
        return [{**row, "clip": clips.get(str(row["eventId"]))} for row in rows]

    def image(self, event_id: str) -> bytes | None:
        """An event's snapshot: this run's in memory, else the one kept in the outbox."""
        if self.writer is None:
            return None
        for item in list(self.writer.recent):
            if item.event_id == event_id:
                return item.snapshot
        try:
            record = self.writer.outbox.get(event_id)
        except sqlite3.Error as exc:
            log.warning("cannot read the snapshot of event %s: %s", event_id, exc)
            return None
        return record.images[0] if record is not None and record.images else None

    def recent_lines(self) -> list[str]:
        """The closing summary's "latest events" lines."""
        if self.writer is None:
            return []
        return [
            f"{item.event.t_s:8.2f}s  {item.event.rule_id}: {item.event.reason}  ({item.event_id})"
            for item in self.writer.recent
        ]
