"""Limits on what the file sinks leave on disk: the outbox's size and age, applied to the
JSONL file with its snapshots and to the bundle folder, so they cannot fill the disk.

Oldest first, every eviction counted (``evicted_total`` on the sink; the sender copies it
into the outbox's ``files_evicted`` counter) and logged: rule 2 of docs/architecture.md holds for
these files too.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("streamer.sinks")

# Age is checked at most this often (and at the first write): finding nothing to do costs
# one stat or one line read, but not on every batch.
AGE_CHECK_EVERY_S = 60.0
# Over the quota, evict down to this share of it: the JSONL file is rewritten to drop its
# head, which should not happen on every append.
LOW_WATER = 0.9


@dataclass(frozen=True)
class Retention:
    """``max_bytes`` and ``ttl_s`` of one sink's files; None means no limit."""

    max_bytes: int | None = None
    ttl_s: float | None = None

    @classmethod
    def of(cls, max_mb: float | None, ttl_days: float | None) -> Retention:
        return cls(
            int(max_mb * 2**20) if max_mb else None, ttl_days * 86400.0 if ttl_days else None
        )

    def describe(self) -> str:
        parts = []
        if self.max_bytes is not None:
            parts.append(f"{self.max_bytes / 2**20:.3g} MB")
        if self.ttl_s is not None:
            parts.append(f"{self.ttl_s / 86400:.3g} days")
        return " / ".join(parts) or "no limits"


class FolderQuota:
    """One sink's own files in a folder (those named ``<prefix>*<suffix>``), kept under the
    retention's size and age; oldest (by write time) evicted first."""

    def __init__(self, folder: Path, prefix: str, suffix: str, retention: Retention, sink: str) -> None:
        self.folder = folder
        self._prefix = prefix
        self._suffix = suffix
        self.retention = retention
        self._sink = sink
        self._files: dict[str, tuple[float, int]] = {}  # name -> (mtime, size)
        self._bytes = 0
        self._next_age_check = 0.0
        self.evicted_total = 0
        self.evicted_bytes_total = 0
        self._scan()

    def _scan(self) -> None:
        self._files.clear()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if self._ours(entry.name) and entry.is_file():
                    stat = entry.stat()
                    self._files[entry.name] = (stat.st_mtime, stat.st_size)
        self._bytes = sum(size for _, size in self._files.values())

    def _ours(self, name: str) -> bool:
        return name.startswith(self._prefix) and name.endswith(self._suffix)

    @property
    def used_bytes(self) -> int:
        return self._bytes

    def added(self, path: Path, size: int) -> None:
        """Record a file just written (a rewrite of the same name replaces its size)."""
        _, old = self._files.get(path.name, (0.0, 0))
        self._files[path.name] = (time.time(), size)
        self._bytes += size - old

    def enforce(self, now: float | None = None) -> int:
        """Evict what is over the limits; returns files removed."""
        now = time.time() if now is None else now
        limit = self.retention.max_bytes
        over = limit is not None and self._bytes > limit
        if not over and (self.retention.ttl_s is None or now < self._next_age_check):
            return 0
        self._next_age_check = now + AGE_CHECK_EVERY_S
        # From the disk, not memory: an operator may have moved archives off the stick.
        self._scan()
        over = limit is not None and self._bytes > limit
        oldest_first = sorted(self._files.items(), key=lambda item: (item[1][0], item[0]))
        target = None if limit is None else int(limit * LOW_WATER) if over else limit
        removed = 0
        freed = 0
        for name, (mtime, size) in oldest_first:
            too_old = self.retention.ttl_s is not None and mtime < now - self.retention.ttl_s
            too_big = target is not None and self._bytes > target
            if not (too_old or too_big):
                break
            try:
                (self.folder / name).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("sink %s: cannot evict %s: %s", self._sink, name, exc)
                break
            del self._files[name]
            self._bytes -= size
            removed += 1
            freed += size
        if removed:
            self.evicted_total += removed
            self.evicted_bytes_total += freed
            log.warning(
                "sink %s: evicted the %d oldest file(s) (%.0f KB) from %s to keep to %s",
                self._sink, removed, freed / 1024, self.folder, self.retention.describe(),
            )
        return removed
