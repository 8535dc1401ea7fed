"""Air-gapped export, bundle format v1 (docs/architecture.md, "Vision Events").

One ``event_<UTC timestamp>_<eventId>.tar.gz`` per event, holding ``payload.json`` (the
POST body plus ``"bundleFormatVersion": 1``, each image referenced by ``file`` and
``inputFile`` paths inside the archive instead of source ids) and ``images/<uuid>.jpg``.
An event with a clip (issue 17) waits for it and carries it as ``clips/<eventId>.mp4``,
named in ``customMetadata.clip_file`` (``clip: in_bundle``); without it (failed, not
ready in time, or too big for the 25 MiB limit) ``clip: missing`` and ``clip_missing``
say why. Metadata keeps the payload acceptable to the importer, unlike a new top-level key.
Each archive is written under a temporary name, fsynced and renamed, so a reader (or a
USB stick pulled mid-copy) never sees half an archive. The name depends only on the
event, so a resend overwrites instead of duplicating.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import tarfile
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from streamer.errors import SinkError
from streamer.events.clips import StoredClip
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord, image_refs
from streamer.schema.bases import SinkBase
from streamer.schema.sections import FileLimitsConfig
from streamer.sinks.base import (
    Dead,
    Delivered,
    Outcome,
    Retry,
    Sink,
    SinkContext,
    cap_detections,
    fsync_dir,
    with_clip_metadata,
    write_atomic,
)
from streamer.sinks.retention import FolderQuota, Retention

# --- config ---------------------------------------------------------------------------


class BundleSinkConfig(FileLimitsConfig, SinkBase):
    type: Literal["bundle"]
    id: str | None = None
    dir: Path = Field(description="Folder receiving one event_<UTC>_<eventId>.tar.gz per event.")
    use_case: str | None = Field(
        None, min_length=1, description="useCaseId written into payloads; default none "
        "(the uploader supplies it, as with Roboflow's own bundle writer)."
    )
    workflow_id: str | None = None

    def build(self, context: SinkContext) -> BundleSink:
        return BundleSink(self, context.retention(self))


# --- plugin -----------------------------------------------------------------------------


log = logging.getLogger("streamer.sinks")

BUNDLE_FORMAT_VERSION = 1
MAX_BUNDLE_BYTES = 25 * 1024 * 1024


def bundle_name(record: EventRecord) -> str:
    """``event_<UTC timestamp>_<eventId>.tar.gz``, the timestamp being the event's."""
    stamp = record.payload.get("timestamp")
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.fromtimestamp(record.created_ts or time.time(), tz=timezone.utc)
    return f"event_{moment.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}_{record.event_id}.tar.gz"


def clip_path(event_id: str) -> str:
    """Where an event's clip lies inside its bundle."""
    return f"clips/{event_id}.mp4"


def build_bundle(record: EventRecord, use_case: str | None,
                 workflow_id: str | None = None) -> bytes:
    """The archive's bytes; ``ValueError`` when the event cannot make a valid bundle.

    ``useCaseId`` only when ``use_case`` is set: the uploader supplies it otherwise, and
    a made-up one would name a use case that does not exist on the server. A clip that
    would push the archive past 25 MiB is left out (and the metadata says so).
    """
    try:
        return _archive(record, use_case, workflow_id)
    except ValueError as exc:
        stored = record.stored_clip
        if stored is None or stored.missing() is not None:
            raise
        size = len(stored.mp4 or b"") / 2**20
        dropped = StoredClip(stored.event_id, "failed", stored.due_ts, None,
                             {"reason": f"{size:.1f} MiB clip would make the bundle too big ({exc})"})
        return _archive(replace(record, stored_clip=dropped), use_case, workflow_id)


def _archive(record: EventRecord, use_case: str | None, workflow_id: str | None) -> bytes:
    refs = image_refs(record)
    payload: dict[str, Any] = cap_detections(copy.deepcopy(record.payload))
    with_clip_metadata(payload, record, "in_bundle")
    if use_case:
        payload["useCaseId"] = use_case
    if workflow_id:
        payload["workflowId"] = workflow_id
    files: list[tuple[str, bytes]] = []

    def add(index: int) -> str:
        # uuid names: the format says images/<uuid>.jpg, and they never collide.
        name = f"images/{uuid.uuid4()}.jpg"
        files.append((name, record.images[index]))
        return name

    images = []
    for ref, raw in zip(refs, payload.get("images", [])):
        entry = {key: value for key, value in raw.items() if key != INPUT_IMAGE_KEY}
        entry["file"] = add(ref.image)
        if ref.input_image is not None:
            entry["inputFile"] = add(ref.input_image)
        images.append(entry)
    if "images" in payload:
        payload["images"] = images
    stored = record.stored_clip
    if stored is not None and stored.missing() is None and stored.mp4:
        payload["customMetadata"]["clip_file"] = clip_path(record.event_id)
        files.append((clip_path(record.event_id), stored.mp4))
    payload["bundleFormatVersion"] = BUNDLE_FORMAT_VERSION
    body = json.dumps(payload, indent=2, allow_nan=False).encode("utf-8")
    buffer = io.BytesIO()
    mtime = int(record.created_ts or time.time())
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in [("payload.json", body), *files]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = mtime
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    out = buffer.getvalue()
    if len(out) > MAX_BUNDLE_BYTES:
        raise ValueError(f"bundle is {len(out) / 2**20:.1f} MiB, over the 25 MiB limit")
    return out


def write_bundle(directory: Path, record: EventRecord, use_case: str | None,
                 workflow_id: str | None = None) -> Path:
    """Write one event's archive atomically (temp name, fsync, rename); returns its path."""
    data = build_bundle(record, use_case, workflow_id)
    target = directory / bundle_name(record)
    write_atomic(target, data)
    fsync_dir(directory)
    return target


class BundleSink(Sink):
    """Writes each event as a v1 bundle into ``config.dir`` (a mounted USB stick, say)."""

    # An event with a clip waits for it (until due) and carries it in the archive.
    carries_clips = True

    def __init__(self, config: BundleSinkConfig, retention: Retention = Retention()) -> None:
        self.name = config.name
        self.dir = Path(config.dir).expanduser()
        self._config = config
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            # Only our own archives count and are ever evicted, never other files there.
            self._quota = FolderQuota(self.dir, "event_", ".tar.gz", retention, self.name)
        except OSError as exc:
            raise SinkError(f"sink {self.name!r}: cannot create {self.dir}: {exc}") from None

    @property
    def evicted_total(self) -> int:
        """Archives removed to keep to the limits (oldest first)."""
        return self._quota.evicted_total

    def send(self, batch: list[EventRecord]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for record in batch:
            try:
                target = write_bundle(self.dir, record, self._config.use_case, self._config.workflow_id)
                self._quota.added(target, target.stat().st_size)
            except ValueError as exc:
                outcomes[record.event_id] = Dead(str(exc))
            except OSError as exc:  # a full or missing stick: keep the event, try later
                reason = f"cannot write to {self.dir}: {exc.strerror or exc}"
                outcomes[record.event_id] = Retry(reason)
            else:
                outcomes[record.event_id] = Delivered()
        try:
            self._quota.enforce()
        except OSError as exc:  # delivered already; eviction is retried after the next batch
            log.error("sink %s: cannot evict old bundles from %s: %s", self.name, self.dir, exc)
        return outcomes
