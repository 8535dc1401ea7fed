"""``Pipeline``: one camera's wired stages and the run loop over them.

Threads: source (one capture thread) -> frame loop (the caller's thread: ``FrameStep``)
-> event writer (outbox) -> one sender per sink; the monitor serves from its own threads
and reads only the stages' ``status()`` and the current scene. A single ``stop`` event
ends the frame loop; the writer and the senders stop after it, in data-flow order, so
nothing accepted is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from streamer.clips import ClipRecorder
from streamer.config.edit import ConfigFile
from streamer.config.models import Config
from streamer.config.watch import ConfigWatcher
from streamer.errors import StreamerError
from streamer.monitor import HasStatus, Metrics, Monitor, MonitorFeed, assemble_status
from streamer.monitor.places import PlacesDesk, SceneView
from streamer.monitor.review import ReviewDesk
from streamer.pipeline.camera import CameraStage
from streamer.pipeline.events import EventsStage
from streamer.pipeline.options import RunOptions
from streamer.pipeline.outputs import open_text, open_video
from streamer.pipeline.scene import places_of, reload_scene
from streamer.pipeline.senders import Delivery
from streamer.pipeline.step import FrameStep
from streamer.pipeline.summary import RunSummary, progress_line
from streamer.redact import redact
from streamer.source import Frame

log = logging.getLogger("streamer.pipeline")

# One bad frame costs one frame; this many failures in a row means the stage is broken.
MAX_CONSECUTIVE_FRAME_ERRORS = 25


class Pipeline:
    """One camera's wired stages and the loop that runs them once (``run``)."""

    def __init__(
        self,
        config: Config,
        options: RunOptions,
        stop: threading.Event,
        report: Callable[[str], None],
        *,
        summary: RunSummary,
        camera: CameraStage,
        step: FrameStep,
        events: EventsStage,
        delivery: Delivery | None,
        metrics: Metrics,
        stages: Sequence[HasStatus],
        secrets: Sequence[str],
        review: ReviewDesk | None = None,
        clips: ClipRecorder | None = None,
    ) -> None:
        self.review = review  # operators' verdicts and snoozes; None without an outbox
        self.config = config
        self.options = options
        self.stop = stop
        self.report = report
        self.summary = summary
        self.camera = camera
        self.step = step
        self.events = events
        self.clips = clips
        self.delivery = delivery
        self.metrics = metrics
        self._stages = tuple(stages)
        self._secrets = secrets
        self.frame_errors_total = 0
        self.monitor: Monitor | None = None  # set once, when the page is up
        self._watcher: ConfigWatcher | None = None

    def status(self) -> dict[str, object]:
        """The live state of the run (JSON-friendly, no secrets): ``/api/status``."""
        return assemble_status(self._stages)

    @property
    def rules_state(self) -> dict[str, object]:
        """Every rule's live state (rules.rules_state), as last copied by the frame loop."""
        return self.step.rules_state

    # --- running ------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run until the input ends, a limit is reached or ``stop`` is set."""
        started = time.monotonic()
        source = self.camera.source
        try:
            if self.delivery is not None:
                backlog = self.summary.backlog_at_start = self.delivery.backlog()
                if backlog:
                    self.report(f"delivering {backlog} pending deliveries from an earlier run first")
                # Senders start before the camera: a backlog drains even while it connects.
                self.delivery.start()
            self.events.start()
            if self.clips is not None:
                self.clips.start()
            source.start()  # a missing or undecodable file fails here, before any page
            if self.step.detect_feed is not None:
                self.step.detect_feed.start()  # camera.detect_source
            # The monitor comes up before the first frame, so a camera away at start shows
            # as such on the page instead of the page being missing too.
            if self.config.monitor.enabled and self.options.monitor:
                self._start_monitor()
            if not self._await_first_frame():
                return self.summary
            self.report(
                f"source {source.name}: {source.width}x{source.height} at {source.fps:.1f} fps"
                + (f", {source.frame_count} frames" if source.frame_count else "")
            )
            self.step.begin(source.width, source.height, source.fps)
            self.camera.start_view()
            if self.clips is not None:
                self.report(self.clips.describe())
            self._open_outputs()
            if self.options.watch_config is not None:
                self._watcher = ConfigWatcher(self.options.watch_config, self.stop)
                self._watcher.start()
            loop_started = time.monotonic()
            self._frame_loop()
            self.summary.elapsed_s = time.monotonic() - loop_started
        finally:
            self._shut_down()
            if not self.summary.elapsed_s:
                self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _open_outputs(self) -> None:
        options, source, outputs = self.options, self.camera.source, self.summary.outputs
        if options.save_video:
            cap = self.config.camera.fps
            fps = min(source.fps, cap) if cap else source.fps
            self.step.video = open_video(options.save_video, fps, source.width, source.height)
            outputs["annotated video"] = str(options.save_video)
        if options.record_detections:
            self.step.recorder = open_text(options.record_detections)
            outputs["recorded detections"] = str(options.record_detections)
        for sink_config in self.config.sinks:
            events_file = sink_config.events_file()
            if events_file is not None and self.delivery is not None:
                outputs[f"events ({sink_config.name})"] = str(events_file)

    def _frame_loop(self) -> None:
        source, options, summary = self.camera.source, self.options, self.summary
        started = time.monotonic()
        self.camera.started_loop()
        next_progress = started + options.progress_s
        consecutive_errors = 0
        while not self.stop.is_set():
            if options.max_frames is not None and summary.frames >= options.max_frames:
                summary.ended_by = f"--max-frames {options.max_frames}"
                return
            if options.duration_s is not None and time.monotonic() - started >= options.duration_s:
                summary.ended_by = f"--duration {options.duration_s:g}"
                return
            try:
                frame = source.read(timeout=0.5)
            except EOFError:
                if not self.stop.is_set():  # else the source ended because of the stop request
                    summary.ended_by = self.camera.ended_reason()
                return
            self._submit_health(frame)
            if frame is None:
                continue
            self._take_reload()
            step_started = time.perf_counter()
            try:
                fired = self.step.step(frame)
                consecutive_errors = 0
            except StreamerError:
                raise
            except Exception as exc:
                fired = []
                self.frame_errors_total += 1
                consecutive_errors += 1
                log.error("frame %d failed: %s", frame.index, redact(exc, self._secrets))
                if consecutive_errors >= MAX_CONSECUTIVE_FRAME_ERRORS:
                    raise StreamerError(
                        f"{consecutive_errors} frames in a row failed; last error: "
                        f"{redact(exc, self._secrets)}"
                    ) from exc
            summary.frames += 1
            if options.on_step is not None:
                options.on_step(frame, fired, time.perf_counter() - step_started)
            now = time.monotonic()
            if now >= next_progress:
                next_progress = now + options.progress_s
                self.report(self._progress_line(now - started))

    def _take_reload(self) -> None:
        """A valid edit of the watched config swaps the scene in one assignment."""
        if self._watcher is None or self.step.scene is None:
            return
        new_config = self._watcher.take()
        if new_config is not None:
            old_places = places_of(self.step.scene.config)
            self.step.scene, line = reload_scene(self.step.scene, new_config)
            self.report(line)
            new_places = places_of(new_config)
            # Places saved (the page's editor, or by hand) were drawn on the view as it is now.
            if new_places != old_places and self.camera.retake_reference(new_places, "the places were saved"):
                self.report("places changed: taking a new reference view")

    def _await_first_frame(self) -> bool:
        """A live camera may be away at start: wait for it, but only as long as the run may last.

        ``False`` when a stop request came first. A run bounded by ``--duration`` that
        never got a frame raises the one-line :class:`SourceError`.
        """
        source = self.camera.source
        started = time.monotonic()
        while not source.ready.wait(0.25):
            self._submit_health(None)
            if self.stop.is_set():
                return False  # _shut_down names it a stop request and skips the drain
            waited_s = time.monotonic() - started
            if self.options.duration_s is not None and waited_s >= self.options.duration_s:
                raise source.no_frame_error(waited_s)
        return True

    def _submit_health(self, frame: Frame | None) -> None:
        for event, picture in self.camera.health_events(frame):
            self.events.submit(event, picture)

    def _progress_line(self, elapsed_s: float) -> str:
        source = self.camera.source
        return progress_line(
            self.summary.frames, source.frame_count, elapsed_s, self.events.counters(),
            self.delivery.delivered_total() if self.delivery is not None else 0, source.dropped_total,
        )

    # --- monitor --------------------------------------------------------------------

    def monitor_feed(self) -> MonitorFeed:
        """What the camera's page reads (its own monitor, or its page in a box's)."""
        live = self.step.live
        assert live is not None
        return MonitorFeed(
            live=live,
            status=self.status,
            events=self.events.history,
            event_image=self.events.image,
            event_clip=self.events.clip,
            metrics=self.metrics,
            review=self.review,
            retake_reference=self.camera.retake_reference if self.camera.view is not None else None,
            places=self._places_desk(),
        )

    def _start_monitor(self) -> None:
        self.monitor = monitor = Monitor.started(self.monitor_feed(), self.config.monitor)
        if monitor is not None:
            self.report(f"monitor: {monitor.url}")

    def _places_desk(self) -> PlacesDesk:
        """The places editor: it writes the file this run watches (none: read-only) and
        asks for the reload at once, so the camera uses a saved place on its next frame."""
        path = self.options.watch_config
        live = self.step.live
        assert live is not None

        def scene() -> SceneView | None:
            current = self.step.scene
            return (current.config, current.width, current.height) if current is not None else None

        def reload() -> None:
            if self._watcher is not None:
                self._watcher.check()

        return PlacesDesk(
            scene=scene, frame_jpeg=live.raw_jpeg, config_file=ConfigFile(path) if path is not None else None,
            reload=reload, history=self.step.history,
        )

    # --- ending -----------------------------------------------------------------------

    def _shut_down(self) -> None:
        """Stop in data-flow order: source, writer, outputs, then drain and close delivery."""
        summary = self.summary
        interrupted = self.stop.is_set() and not summary.ended_by
        self.stop.set()
        if self._watcher is not None:
            self._watcher.join()
        self.camera.source.join(timeout=5.0)
        self.camera.stop_view()
        summary.frames_dropped = self.camera.source.dropped_total
        if self.clips is not None:
            # Open clips close at the last frame they have, before the writer stops,
            # so every clip reaches the outbox with its event.
            self.clips.stop()
            summary.clips = self.clips.counters()
        # A failing outbox gets the same grace as the senders before its events are
        # counted unstored.
        self.events.stop(give_up_s=self.options.drain_s)
        self.step.close()
        delivery = self.delivery
        if interrupted:
            summary.ended_by = "a stop request"
        elif summary.ended_by and delivery is not None and delivery.senders:
            delivery.drain(self.options.drain_s)
        if delivery is not None:
            delivery.close()
        if self.monitor is not None:
            self.monitor.stop()
        self._finish_summary()
        if delivery is not None:
            delivery.outbox.close()

    def _finish_summary(self) -> None:
        s = self.summary
        events = self.events.counters()
        if events:
            s.events_accepted = events["accepted_total"]
            s.events_by_rule = events["by_rule"]
            s.events_dropped = events["dropped_total"]
            s.events_unstored = events["unstored_reasons"]
            s.recent_events = self.events.recent_lines()
        if self.delivery is not None:
            s.delivered, s.pending, s.dead, s.sinks = self.delivery.totals()
