"""JSONL sink: one Vision Events payload per line, snapshots beside it as JPEG files.

Each image entry gets ``file`` (the snapshot's path) where the API would have a
``sourceId``. Lines are appended and fsynced before the event counts as delivered; a
crash between the write and the acknowledgement can repeat a line on restart (readers
deduplicate by ``eventId``), never lose one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from streamer.config.models import JsonlSinkConfig
from streamer.errors import SinkError
from streamer.events.record import EventRecord
from streamer.sinks.base import SendOutcome


class JsonlSink:
    def __init__(self, config: JsonlSinkConfig) -> None:
        self.name = config.name
        self.path = Path(config.path).expanduser()
        self.snapshots_dir = (
            Path(config.snapshots_dir).expanduser()
            if config.snapshots_dir
            else self.path.with_name(f"{self.path.stem}_snapshots")
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.snapshots_dir.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise SinkError(f"sink {self.name!r}: cannot write {self.path}: {exc}") from None

    def send(self, batch: list[EventRecord]) -> list[SendOutcome]:
        lines = []
        try:
            for record in batch:
                payload = dict(record.payload)
                images = [dict(entry) for entry in payload.get("images", [])]
                for index, (entry, jpeg) in enumerate(zip(images, record.images)):
                    target = self.snapshots_dir / f"{record.event_id}_{index}.jpg"
                    _write_atomic(target, jpeg)
                    entry["file"] = str(target)
                payload["images"] = images
                lines.append(json.dumps(payload, separators=(",", ":")) + "\n")
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            reason = f"cannot write {self.path}: {exc.strerror or exc}"
            return [SendOutcome(r.event_id, ok=False, retry=True, reason=reason) for r in batch]
        return [SendOutcome(record.event_id, ok=True) for record in batch]

    def close(self) -> None:
        pass


def _write_atomic(target: Path, data: bytes) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
