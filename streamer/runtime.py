"""``Runtime``: one run of one camera's pipeline, as a handle another thread can watch.

All wiring is in :func:`streamer.pipeline.build_pipeline`; this only builds the pipeline
when the run starts (so a bad outbox or monitor setting fails ``run()``, not the
constructor) and forwards what callers read while it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from streamer.config.models import Config
from streamer.monitor import Metrics, Monitor
from streamer.pipeline import Pipeline, RunOptions, RunSummary, build_pipeline
from streamer.pipeline.build import stderr_report

__all__ = ["RunOptions", "RunSummary", "Runtime"]


class Runtime:
    """One camera's pipeline for one run.

    Args:
        config: the validated config.
        options: run length, extra outputs and the step hook.
        stop: set it (from a signal handler or another thread) to end the run cleanly.
        report: where progress lines go (stderr by default).
    """

    def __init__(
        self,
        config: Config,
        options: RunOptions = RunOptions(),
        stop: threading.Event | None = None,
        report: Callable[[str], None] = stderr_report,
    ) -> None:
        self.config = config
        self.options = options
        self.stop = stop or threading.Event()
        self.report = report
        self.pipeline: Pipeline | None = None  # assigned once, when run() starts
        self._idle = RunSummary()

    def run(self) -> RunSummary:
        """Run until the input ends, a limit is reached or ``stop`` is set."""
        self.pipeline = build_pipeline(self.config, self.options, stop=self.stop, report=self.report)
        return self.pipeline.run()

    @property
    def summary(self) -> RunSummary:
        return self.pipeline.summary if self.pipeline is not None else self._idle

    @property
    def monitor(self) -> Monitor | None:
        return self.pipeline.monitor if self.pipeline is not None else None

    @property
    def metrics(self) -> Metrics | None:
        return self.pipeline.metrics if self.pipeline is not None else None

    @property
    def rules_state(self) -> dict[str, object]:
        return self.pipeline.rules_state if self.pipeline is not None else {}

    def status(self) -> dict[str, object]:
        """``/api/status`` of the run (empty until it starts)."""
        return self.pipeline.status() if self.pipeline is not None else {}
