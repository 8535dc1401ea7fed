"""JSONL sink: one Vision Events payload per line, snapshots beside it as JPEG files.

Each image entry gets ``file`` (the snapshot's path) where the API would have a
``sourceId``, and ``inputFile`` (the raw frame) where it would have ``inputSourceId``. Lines are appended and fsynced before the event counts as delivered; a
crash between the write and the acknowledgement can repeat a line on restart (readers
deduplicate by ``eventId``), never lose one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from streamer.config.models import JsonlSinkConfig
from streamer.errors import SinkError
from streamer.events.record import EventRecord, image_refs
from streamer.sinks.base import SendOutcome, write_atomic


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
        final: dict[str, str] = {}
        try:
            for record in batch:
                try:
                    refs = image_refs(record)
                except ValueError as exc:
                    final[record.event_id] = str(exc)
                    continue
                payload = dict(record.payload)
                images = []
                for ref in refs:
                    entry = dict(ref.entry)
                    entry["file"] = str(self._write_image(record, ref.image))
                    if ref.input_image is not None:
                        entry["inputFile"] = str(self._write_image(record, ref.input_image))
                    images.append(entry)
                if "images" in payload:
                    payload["images"] = images
                lines.append(json.dumps(payload, separators=(",", ":")) + "\n")
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            reason = f"cannot write {self.path}: {exc.strerror or exc}"
            return [SendOutcome(r.event_id, ok=False, retry=True, reason=reason) for r in batch]
        return [
            SendOutcome(r.event_id, ok=False, retry=False, reason=final[r.event_id])
            if r.event_id in final
            else SendOutcome(r.event_id, ok=True)
            for r in batch
        ]

    def _write_image(self, record: EventRecord, index: int) -> Path:
        target = self.snapshots_dir / f"{record.event_id}_{index}.jpg"
        write_atomic(target, record.images[index])
        return target

    def close(self) -> None:
        pass

