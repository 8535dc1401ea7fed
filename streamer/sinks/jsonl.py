"""JSONL sink: one Vision Events payload per line, snapshots beside it as JPEG files.

Each image entry gets ``file`` (the snapshot's path) where the API would have a
``sourceId``, and ``inputFile`` (the raw frame) where it would have ``inputSourceId``. Lines are appended and fsynced before the event counts as delivered; a
crash between the write and the acknowledgement can repeat a line on restart (readers
deduplicate by ``eventId``), never lose one.

The file and its snapshots keep to the sink's :class:`Retention` (the outbox's limits
unless the sink sets its own): past the quota or the age the oldest lines are cut from the
head of the file (rewritten atomically) together with the snapshots they name, counted in
``evicted_total``.

With ``send_clip`` an event with a clip (issue 17) waits for it (until due) and its MP4 is
written beside the snapshots as ``<eventId>.mp4``, named by ``customMetadata.clip_file``
(``clip: file``; ``clip: missing`` and ``clip_missing`` when it is not there); it is evicted
with its line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import Field

from streamer.errors import SinkError
from streamer.events.record import EventRecord, image_refs
from streamer.schema.bases import SinkBase
from streamer.schema.sections import FileLimitsConfig
from streamer.sinks.base import (
    Dead,
    Delivered,
    Outcome,
    Retry,
    Sink,
    SinkContext,
    fsync_dir,
    with_clip_metadata,
    write_atomic,
)
from streamer.sinks.retention import AGE_CHECK_EVERY_S, LOW_WATER, Retention

# --- config ---------------------------------------------------------------------------


class JsonlSinkConfig(FileLimitsConfig, SinkBase):
    type: Literal["jsonl"]
    id: str | None = None
    path: Path = Field(description="File to append one Vision Events payload per line to.")
    snapshots_dir: Path | None = Field(
        None, description="Where snapshots are written; default: <path stem>_snapshots/."
    )
    send_clip: bool = Field(
        False, description="Write an event's clip beside its snapshots (<eventId>.mp4, "
        "customMetadata.clip_file); the event's line waits for its clip until due."
    )

    def events_file(self) -> Path:
        return self.path

    def build(self, context: SinkContext) -> JsonlSink:
        return JsonlSink(self, context.retention(self))


# --- plugin -----------------------------------------------------------------------------


log = logging.getLogger("streamer.sinks")


class JsonlSink(Sink):
    def __init__(self, config: JsonlSinkConfig, retention: Retention = Retention()) -> None:
        self.name = config.name
        self.carries_clips = config.send_clip
        self.retention = retention
        self._evicted_total = 0  # events whose line (and snapshots) were evicted
        self._next_age_check = 0.0
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
            self._bytes = self._measure()
        except OSError as exc:
            raise SinkError(f"sink {self.name!r}: cannot write {self.path}: {exc}") from None

    @property
    def evicted_total(self) -> int:
        return self._evicted_total

    def send(self, batch: list[EventRecord]) -> dict[str, Outcome]:
        lines = []
        final: dict[str, str] = {}
        try:
            for record in batch:
                try:
                    refs = image_refs(record)
                except ValueError as exc:
                    final[record.event_id] = str(exc)
                    continue
                payload = with_clip_metadata(dict(record.payload), record, "file")
                clip = record.stored_clip
                if clip is not None and clip.missing() is None and clip.mp4:
                    target = self.snapshots_dir / f"{record.event_id}.mp4"
                    write_atomic(target, clip.mp4)
                    payload["customMetadata"]["clip_file"] = str(target)
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
            if any(record.images or record.stored_clip for record in batch):
                # The names of the snapshots must be durable before the lines naming them.
                fsync_dir(self.snapshots_dir)
            self._append(lines)
        except OSError as exc:
            reason = f"cannot write {self.path}: {exc.strerror or exc}"
            return {r.event_id: Retry(reason) for r in batch}
        self._bytes += sum(len(line) for line in lines) + sum(
            len(image) for record in batch for image in record.images
        ) + sum(len(r.stored_clip.mp4 or b"") for r in batch if r.stored_clip is not None)
        try:
            self.enforce_limits()
        except OSError as exc:  # the batch is written: eviction is retried on the next one
            log.error("sink %s: cannot evict old events from %s: %s", self.name, self.path, exc)
        return {
            r.event_id: Dead(final[r.event_id]) if r.event_id in final else Delivered()
            for r in batch
        }

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

    def _measure(self) -> int:
        total = self.path.stat().st_size if self.path.exists() else 0
        with os.scandir(self.snapshots_dir) as entries:
            return total + sum(entry.stat().st_size for entry in entries if entry.is_file())

    def enforce_limits(self, now: float | None = None) -> int:
        """Cut the oldest lines (and their snapshots) past the quota or the age; returns
        events evicted. Checks the age at most once a minute; the size on every call."""
        now = time.time() if now is None else now
        limit, ttl_s = self.retention.max_bytes, self.retention.ttl_s
        if not (limit is not None and self._bytes > limit) and (
            ttl_s is None or now < self._next_age_check
        ):
            return 0
        self._next_age_check = now + AGE_CHECK_EVERY_S
        self._bytes = self._measure()  # the running sum counts a rewritten snapshot twice
        over = limit is not None and self._bytes > limit
        target = int(limit * LOW_WATER) if over and limit is not None else limit
        cut = dropped = 0
        doomed: list[Path] = []
        with open(self.path, "rb") as source:
            for line in source:
                files = self._files_of(line) if line.endswith(b"\n") else None
                if files is None:
                    break
                sizes = sum(f.stat().st_size for f in files if f.exists())
                too_big = target is not None and self._bytes > target
                too_old = ttl_s is not None and self._written_at(line, files) < now - ttl_s
                if not (too_big or too_old):
                    break
                cut += len(line)
                doomed.extend(files)
                self._bytes -= len(line) + sizes
                dropped += 1
            if not cut:
                return 0
            source.seek(cut)
            temp = self.path.with_name(f".{self.path.name}.tmp")
            with open(temp, "wb") as target_file:
                shutil.copyfileobj(source, target_file)
                target_file.flush()
                os.fsync(target_file.fileno())
        os.replace(temp, self.path)
        fsync_dir(self.path.parent)
        # The lines go first, then their pictures: a crash in between leaves orphan
        # files, never a line naming a missing one.
        for file in doomed:
            file.unlink(missing_ok=True)
        self._evicted_total += dropped
        log.warning(
            "sink %s: evicted the %d oldest event(s) from %s with their %d snapshot(s) to keep "
            "to %s", self.name, dropped, self.path, len(doomed), self.retention.describe(),
        )
        return dropped

    def _files_of(self, line: bytes) -> list[Path]:
        """Our snapshot (and clip) files named by a line (never a path outside the
        snapshots folder)."""
        try:
            payload = json.loads(line)
            images = payload.get("images") or []
            metadata = payload.get("customMetadata") or {}
        except (ValueError, AttributeError):
            return []
        names = [entry.get(key) for entry in (images if isinstance(images, list) else [])
                 if isinstance(entry, dict) for key in ("file", "inputFile")]
        if isinstance(metadata, dict):
            names.append(metadata.get("clip_file"))
        return [Path(name) for name in names
                if isinstance(name, str) and Path(name).parent == self.snapshots_dir]

    @staticmethod
    def _written_at(line: bytes, files: list[Path]) -> float:
        """When a line was written: its snapshot's mtime, else the event's timestamp, else
        0 (an unreadable line at the head goes with the old ones)."""
        for file in files:
            try:
                return file.stat().st_mtime
            except OSError:
                continue
        try:
            stamp = json.loads(line)["timestamp"]
            return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError):
            return 0.0

    def _write_image(self, record: EventRecord, index: int) -> Path:
        target = self.snapshots_dir / f"{record.event_id}_{index}.jpg"
        write_atomic(target, record.images[index])
        return target

    def close(self) -> None:
        pass

