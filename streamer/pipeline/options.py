"""How one run is bounded and what it writes besides events: the CLI's flags, as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamer.rules.base import RuleEvent
from streamer.source.frame import Frame

# Called on the frame loop after each frame's step: the frame, the events its rules fired
# and the seconds the step took. The supported way for benchmarks, tests and `replay` to
# watch the loop without reaching into it.
StepHook = Callable[[Frame, list[RuleEvent], float], None]


@dataclass(frozen=True)
class RunOptions:
    """How long to run and what to write besides events."""

    max_frames: int | None = None
    duration_s: float | None = None
    save_video: Path | None = None
    record_detections: Path | None = None
    drain_s: float = 10.0
    progress_s: float = 5.0
    # The config file to watch: a valid edit swaps zones, lines and rules live.
    watch_config: Path | None = None
    on_step: StepHook | None = None
    # `replay` without --send keeps its events to itself: no outbox, no sinks.
    deliver: bool = True
    # `replay` runs no page even where the config enables one.
    monitor: bool = True
    # The writer's queue (None: the config's). `replay` runs faster than real time and
    # passes 0 (unbounded) so that no replayed event is dropped.
    event_queue: int | None = None
