"""JSONL sink: one Vision Events payload per line, snapshots beside it as JPEG files.

Each image entry gets ``file`` (the snapshot's path) where the API would have a
``sourceId``, and ``inputFile`` (the raw frame) where it would have ``inputSourceId``. Lines are appended and fsynced before the event counts as delivered; a
crash between the write and the acknowledgement can repeat a line on restart (readers
deduplicate by ``eventId``), never lose one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import BinaryIO

from streamer.config.models import JsonlSinkConfig
from streamer.errors import SinkError
from streamer.events.record import EventRecord, image_refs
from streamer.sinks.base import SendOutcome, fsync_dir, write_atomic

log = logging.getLogger("streamer.sinks")


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
                lines.append((json.dumps(payload, separators=(",", ":")) + "\n").encode("utf-8"))
            if any(record.images for record in batch):
                # The names of the snapshots must be durable before the lines naming them.
                fsync_dir(self.snapshots_dir)
            self._append(lines)
        except OSError as exc:
            reason = f"cannot write {self.path}: {exc.strerror or exc}"
            return [SendOutcome(r.event_id, ok=False, retry=True, reason=reason) for r in batch]
        return [
            SendOutcome(r.event_id, ok=False, retry=False, reason=final[r.event_id])
            if r.event_id in final
            else SendOutcome(r.event_id, ok=True)
            for r in batch
        ]

    def _append(self, lines: list[bytes]) -> None:
        """Append whole lines and fsync; a failed append is cut off again, so the retry
        (and any reader) never meets half a line."""
        # Unbuffered: a failed write must not leave bytes in a buffer that a later flush
        # would append after the cut.
        with open(self.path, "a+b", buffering=0) as handle:
            start = self._cut_torn_tail(handle)
            data = memoryview(b"".join(lines))
            try:
                while data:
                    written = handle.write(data)
                    if not written:
                        raise OSError(f"no progress appending to {self.path}")
                    data = data[written:]
                os.fsync(handle.fileno())
            except OSError:
                try:
                    handle.truncate(start)
                except OSError:
                    pass  # the next append cuts the fragment instead
                raise

    def _cut_torn_tail(self, handle: BinaryIO) -> int:
        """Cut a fragment left at the end by an append that failed (or a crash) back to
        the last complete line; returns the size the file then has."""
        end = handle.seek(0, os.SEEK_END)
        fd = handle.fileno()
        if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
            return end
        keep = 0
        pos = end
        while pos > 0:
            start = max(0, pos - 65536)
            newline = os.pread(fd, pos - start, start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            pos = start
        handle.truncate(keep)
        log.warning(
            "sink %s: cut %d bytes of a torn line at the end of %s (left by a failed write)",
            self.name, end - keep, self.path,
        )
        return keep

    def _write_image(self, record: EventRecord, index: int) -> Path:
        target = self.snapshots_dir / f"{record.event_id}_{index}.jpg"
        write_atomic(target, record.images[index])
        return target

    def close(self) -> None:
        pass

