"""``/api/status`` assembled from the stages' own ``status()`` sections.

Each stage reports the top-level keys it owns (camera, models, rules, places, events,
sinks); ``/metrics`` and the page read this same structure, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class HasStatus(Protocol):
    def status(self) -> dict[str, object]: ...


def empty_status() -> dict[str, object]:
    """Every key /api/status always has, with its value while no stage reports it."""
    return {
        "camera": {},
        "models": [],
        "rules": {},
        "places": {"zones": None, "lines": None, "indeterminate_persons": None},
        "events": {},
        "sinks": {},
    }


def assemble_status(stages: Iterable[HasStatus]) -> dict[str, object]:
    """One JSON-friendly structure from the stages' sections, in a fixed key order."""
    status = empty_status()
    for stage in stages:
        status.update(stage.status())
    return status
