"""The event as it is stored and handed to sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EventRecord:
    """An accepted event: its Vision Events payload and the JPEGs it refers to.

    ``payload`` is the body of ``POST /vision-events`` except that each entry of
    ``payload["images"]`` has no ``sourceId`` yet: ``images[i]`` holds that entry's JPEG
    bytes, and each sink says how it refers to them (an uploaded ``sourceId``, a local
    ``file`` path, a path inside a bundle).
    """

    event_id: str
    payload: dict[str, Any]
    images: list[bytes] = field(default_factory=list)
    created_ts: float = 0.0
    rule_id: str = ""
