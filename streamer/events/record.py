"""The event as it is stored and handed to sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamer.events.clips import ClipPlan, StoredClip


@dataclass(frozen=True)
class EventRecord:
    """An accepted event: its Vision Events payload and the JPEGs it refers to.

    ``payload`` is the body of ``POST /vision-events`` except that each entry of
    ``payload["images"]`` has no ``sourceId`` yet: ``images[i]`` holds that entry's JPEG
    bytes, and each sink says how it refers to them (an uploaded ``sourceId``, a local
    ``file`` path, a path inside a bundle).

    ``clip`` is the plan the frame loop made (storing the event then expects a clip);
    ``stored_clip`` is what the outbox holds of it, read back only for a sink that carries
    clips (``Sink.carries_clips``), else None.
    """

    event_id: str
    payload: dict[str, Any]
    images: list[bytes] = field(default_factory=list)
    created_ts: float = 0.0
    rule_id: str = ""
    clip: ClipPlan | None = None
    stored_clip: StoredClip | None = None


# An images entry may name a second JPEG, the raw frame, by its index in
# ``EventRecord.images``; each sink turns it into its own reference (``inputSourceId``,
# ``inputFile``) and removes this key, which the API would refuse.
INPUT_IMAGE_KEY = "_inputImage"


@dataclass(frozen=True)
class ImageRef:
    """One ``images`` entry of a payload and the JPEGs it refers to."""

    entry: dict[str, Any]
    image: int
    input_image: int | None


def image_refs(record: EventRecord) -> list[ImageRef]:
    """Pair each ``payload["images"]`` entry with its JPEG indexes.

    Entry ``i`` uses ``images[i]`` (the annotated snapshot); an entry with
    ``_inputImage: k`` also uses ``images[k]`` (the raw frame). Raises ``ValueError`` when
    the payload and the JPEGs disagree: such an event can never be delivered as stored.
    """
    entries = record.payload.get("images", [])
    if not isinstance(entries, list):
        raise ValueError("payload images is not a list")
    refs: list[ImageRef] = []
    used: set[int] = set()
    for index, raw in enumerate(entries):
        entry = {key: value for key, value in raw.items() if key != INPUT_IMAGE_KEY}
        extra = raw.get(INPUT_IMAGE_KEY)
        for k in (index,) + ((extra,) if extra is not None else ()):
            if not isinstance(k, int) or not 0 <= k < len(record.images) or k in used:
                raise ValueError(
                    f"payload has {len(entries)} images entries that do not match the "
                    f"{len(record.images)} JPEG(s) stored"
                )
            used.add(k)
        refs.append(ImageRef(entry, index, extra))
    if len(used) != len(record.images):
        raise ValueError(
            f"payload has {len(entries)} images entries but the record holds "
            f"{len(record.images)} JPEG(s)"
        )
    return refs
