"""The runtime: the one module that knows every stage and wires them together.

Threads: capture (one per source) -> frame loop (this thread: detect, track, rules) ->
event writer (outbox) -> one sender per sink. A single ``stop`` event ends the frame
loop; the writer and the senders are stopped after it, in data-flow order, so nothing
accepted is lost.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import cv2
import httpx
import numpy as np
import supervision as sv

from streamer.config.models import Config, JsonlSinkConfig, config_secrets
from streamer.config.watch import ConfigWatcher
from streamer.detect import build_detector
from streamer.detect.multi import DetectorSet
from streamer.detect.replay import detections_to_row
from streamer.errors import ConfigError, StreamerError
from streamer.events.outbox import Outbox
from streamer.events.health import health_event
from streamer.events.payload import iso_utc
from streamer.events.sender import Sender
from streamer.events.writer import EventWriter
from streamer.monitor import LiveView, Metrics, Monitor, MonitorFeed
from streamer.monitor.review import PrecisionCollector, ReviewDesk, wall_now
from streamer.overlay import Overlay
from streamer.redact import redact, replace_urls
from streamer.rate import RateMeter
from streamer.rules import Rule, build_rules, carry_state, rules_state
from streamer.rules.base import RuleEvent
from streamer.sinks.base import Sink, SinkContext
from streamer.source import Capture, Frame
from streamer.track import Tracker

log = logging.getLogger("streamer.runtime")

# One bad frame costs one frame; this many failures in a row means the stage is broken.
MAX_CONSECUTIVE_FRAME_ERRORS = 25


@dataclass(frozen=True)
class _Stages:
    """The stages one run built, handed to the frame loop together."""

    capture: Capture
    detectors: DetectorSet
    tracker: Tracker
    rules: list[Rule]
    overlay: Overlay
    writer: EventWriter
    video: cv2.VideoWriter | None
    recorder: IO[str] | None


@dataclass(frozen=True)
class RunOptions:
    """How long to run and what to write besides events (the CLI's flags)."""

    max_frames: int | None = None
    duration_s: float | None = None
    save_video: Path | None = None
    record_detections: Path | None = None
    drain_s: float = 10.0
    progress_s: float = 5.0
    # The config file to watch: a valid edit swaps zones, lines and rules live.
    watch_config: Path | None = None


@dataclass
class RunSummary:
    """What a run did, for the closing lines and for tests."""

    frames: int = 0
    elapsed_s: float = 0.0
    ended_by: str = ""
    frames_dropped: int = 0
    events_accepted: int = 0
    events_by_rule: dict[str, int] = field(default_factory=dict)
    events_dropped: int = 0
    # Events that never reached the outbox, by reason (disk full, shutdown, ...).
    events_unstored: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    dead: int = 0
    # Per sink: the outbox's counters (Outbox.stats) plus the sender's status line.
    sinks: dict[str, dict[str, object]] = field(default_factory=dict)
    backlog_at_start: int = 0
    recent_events: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        by_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(self.events_by_rule.items()))
        delivered = ", ".join(f"{sink}: {n}" for sink, n in sorted(self.delivered.items()))
        out = [
            f"frames: {self.frames} in {self.elapsed_s:.1f} s ({self.fps:.1f} fps), "
            f"ended by {self.ended_by}; frames dropped: {self.frames_dropped}",
            f"events: {self.events_accepted} accepted"
            + (f" ({by_rule})" if by_rule else "")
            + f", {self.events_dropped} dropped"
            + (f", {sum(self.events_unstored.values())} not stored" if self.events_unstored else ""),
            f"delivered this run: {delivered or 'no sinks configured'}"
            + (f" (including {self.backlog_at_start} from an earlier run)" if self.backlog_at_start else ""),
        ]
        for reason, n in sorted(self.events_unstored.items()):
            out.append(f"{n} events could not be stored: {reason}")
        if self.pending:
            out.append(
                f"{self.pending} deliveries stay in the outbox; the next run with the same "
                f"outbox sends them first"
            )
        if self.dead:
            out.append(f"{self.dead} deliveries were refused for good (dead letters)")
        for name, c in sorted(self.sinks.items()):
            out.append(
                f"sink {name}: accepted {c.get('accepted', 0)}, delivered {c.get('delivered', 0)}, "
                f"retried {c.get('retried', 0)}, pending {c.get('pending', 0)}, "
                f"dead {c.get('dead', 0)}, evicted {c.get('evicted', 0)}, "
                f"dropped {c.get('dropped', 0)}"
                + (f", files evicted {c['files_evicted']}" if c.get("files_evicted") else "")
                + f" (outbox totals); {c.get('status', 'ok')}"
            )
        for name, path in self.outputs.items():
            out.append(f"{name}: {path}")
        return out


def _stderr_report(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


class Runtime:
    """One camera's pipeline for one run.

    Args:
        config: the validated config.
        options: run length and extra outputs.
        stop: set it (from a signal handler or another thread) to end the run cleanly.
        report: where progress lines go (stderr by default).
    """

    def __init__(
        self,
        config: Config,
        options: RunOptions = RunOptions(),
        stop: threading.Event | None = None,
        report: Callable[[str], None] = _stderr_report,
    ) -> None:
        self.config = config
        self.options = options
        self.stop = stop or threading.Event()
        self.report = report
        self.summary = RunSummary()
        self.frame_errors_total = 0
        self._senders: list[Sender] = []
        self._clients: list[httpx.Client] = []
        self._secrets = config_secrets(config)
        # Read by the monitor's threads; set as the run builds its stages.
        self.monitor: Monitor | None = None
        self._live: LiveView | None = None
        self._capture: Capture | None = None
        self._overlay: Overlay | None = None  # set once the camera's size is known
        self._last_frame: Frame | None = None  # snapshot for camera-health events
        self._writer: EventWriter | None = None
        self._outbox: Outbox | None = None
        self._detectors: DetectorSet | None = None  # per-model runs/skips for status
        self._rules_state_at = 0.0
        # One JSON-friendly structure of every rule's live state (rules.rules_state).
        self.rules_state: dict[str, object] = {}
        self._watcher: ConfigWatcher | None = None
        self._fps_out = RateMeter()
        self.metrics = Metrics(self.status)
        # Operator verdicts and snoozes (issue 16); set once the outbox is open.
        self._review: ReviewDesk | None = None
        self.metrics.registry.register(PrecisionCollector(self.status))

    # --- building -----------------------------------------------------------------

    def _build_sinks(self) -> list[Sink]:
        """Each sink's config builds its own sink (``build``), from the registry's types."""
        context = SinkContext(self.config.outbox, self._clients)
        return [sink_config.build(context) for sink_config in self.config.sinks]

    # --- running ------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run until the input ends, a limit is reached or ``stop`` is set."""
        started = time.monotonic()
        outbox = Outbox(
            self.config.outbox.path, self.config.outbox.max_mb, self.config.outbox.ttl_days,
            repair=True,
        )
        writer: EventWriter | None = None
        capture: Capture | None = None
        detectors: DetectorSet = DetectorSet()
        video: cv2.VideoWriter | None = None
        recorder: IO[str] | None = None
        try:
            sinks = self._build_sinks()
            sink_names = [sink.name for sink in sinks]
            outbox.enforce_limits()
            self.summary.backlog_at_start = outbox.pending_total(sink_names)
            if self.summary.backlog_at_start:
                self.report(
                    f"delivering {self.summary.backlog_at_start} pending deliveries "
                    f"from an earlier run first"
                )
            # Senders start before the camera: a backlog drains even while it connects.
            self._senders = [Sender(sink, outbox) for sink in sinks]
            for sender in self._senders:
                sender.start()

            detectors = DetectorSet.of(
                [build_detector(model) for model in self.config.models], self.config.models
            )
            self._detectors = detectors
            # The writer starts before the camera: a camera away at start still gets its
            # health event stored while the run waits for it.
            writer = EventWriter(
                outbox,
                sink_names,
                device_id=self.config.device_id,
                stream_id=self.config.camera.id,
                render_snapshot=self._render_snapshot,
                queue_size=self.config.outbox.queue_size,
                on_accepted=lambda: [sender.wake() for sender in self._senders],
                backlog_bytes=int(self.config.outbox.backlog_mb * 2**20),
                include_input_image=any(
                    getattr(sink_config, "upload_input_image", False)
                    for sink_config in self.config.sinks
                ),
            )
            writer.start()
            self._writer, self._outbox = writer, outbox
            self._review = ReviewDesk(
                outbox.store, sink_names, self.config.device_id, self.config.camera.id,
                frame_now=wall_now(lambda: self._last_frame.wall_ts if self._last_frame else None),
                schedules=lambda: {rule.id: getattr(rule, "schedule", None) for rule in self.config.rules},
                wake_senders=lambda: [sender.wake() for sender in self._senders],
            )
            capture = Capture(self.config.camera, self.stop)
            capture.start()  # a missing or undecodable file fails here, before any page
            self._capture = capture
            # The monitor comes up before the first frame, so a camera away at start shows
            # as such on the page instead of the page being missing too.
            self._live = LiveView(self._draw_live, max_fps=self.config.monitor.max_fps)
            if self.config.monitor.enabled:
                self._start_monitor()
            if not self._await_first_frame(capture, writer):
                return self.summary
            self.report(
                f"source {capture.name}: {capture.width}x{capture.height} at {capture.fps:.1f} fps"
                + (f", {capture.frame_count} frames" if capture.frame_count else "")
            )
            tracker = Tracker(self.config.tracker, capture.fps)
            rules = build_rules(self.config, capture.width, capture.height)
            overlay = Overlay(self.config, capture.width, capture.height)
            self._overlay = overlay
            if self.options.save_video:
                video = _open_video(self.options.save_video, capture)
                self.summary.outputs["annotated video"] = str(self.options.save_video)
            if self.options.record_detections:
                recorder = _open_text(self.options.record_detections)
                self.summary.outputs["recorded detections"] = str(self.options.record_detections)
            for sink_config in self.config.sinks:
                if isinstance(sink_config, JsonlSinkConfig):
                    self.summary.outputs[f"events ({sink_config.name})"] = str(sink_config.path)

            if self.options.watch_config is not None:
                self._watcher = ConfigWatcher(self.options.watch_config, self.stop)
                self._watcher.start()
            loop_started = time.monotonic()
            self._frame_loop(_Stages(capture, detectors, tracker, rules, overlay, writer, video, recorder))
            self.summary.elapsed_s = time.monotonic() - loop_started
        finally:
            interrupted = self.stop.is_set() and not self.summary.ended_by
            self.stop.set()
            if self._watcher is not None:
                self._watcher.join()
            if capture is not None:
                capture.join(timeout=5.0)
                self.summary.frames_dropped = capture.dropped_total
            # A failing outbox gets the same grace as the senders before its events are
            # counted unstored.
            if writer is not None and not writer.stop(give_up_s=self.options.drain_s):
                log.error("the event writer did not finish in time")
            if video is not None:
                video.release()
            if recorder is not None:
                recorder.close()
            for detector in detectors:
                detector.close()
            if interrupted:
                self.summary.ended_by = "a stop request"
            elif self.summary.ended_by and self._senders:
                self._drain(outbox)
            self._close_senders()
            if self.monitor is not None:
                self.monitor.stop()
            self._finish_summary(outbox, writer)
            outbox.close()
            if not self.summary.elapsed_s:
                self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _frame_loop(self, stages: _Stages) -> None:
        capture, writer = stages.capture, stages.writer
        options = self.options
        started = time.monotonic()
        # Seed the rate meter so the first /api/status reads a rate over the whole run.
        self._fps_out.rate(0)
        next_progress = started + options.progress_s
        consecutive_errors = 0
        while not self.stop.is_set():
            if options.max_frames is not None and self.summary.frames >= options.max_frames:
                self.summary.ended_by = f"--max-frames {options.max_frames}"
                return
            if options.duration_s is not None and time.monotonic() - started >= options.duration_s:
                self.summary.ended_by = f"--duration {options.duration_s:g}"
                return
            try:
                frame = capture.read(timeout=0.5)
            except EOFError:
                if self.stop.is_set():
                    return  # the capture ended because of the stop request, not the input
                self.summary.ended_by = "end of input"
                if capture.stats.last_error:
                    self.summary.ended_by += f" ({capture.stats.last_error})"
                return
            self._submit_health(capture, writer, frame)
            if frame is None:
                continue
            if self._watcher is not None:
                new_config = self._watcher.take()
                if new_config is not None:
                    self._swap_rules(new_config, stages.rules, stages.overlay, capture.width, capture.height)
            try:
                self._process(frame, stages)
                consecutive_errors = 0
            except StreamerError:
                raise
            except Exception as exc:
                self.frame_errors_total += 1
                consecutive_errors += 1
                log.error("frame %d failed: %s", frame.index, redact(exc, self._secrets))
                if consecutive_errors >= MAX_CONSECUTIVE_FRAME_ERRORS:
                    raise StreamerError(
                        f"{consecutive_errors} frames in a row failed; last error: "
                        f"{redact(exc, self._secrets)}"
                    ) from exc
            self.summary.frames += 1
            now = time.monotonic()
            if now >= next_progress:
                next_progress = now + options.progress_s
                self.report(self._progress_line(capture, writer, now - started))

    def _render_snapshot(self, frame: Frame, event: RuleEvent) -> np.ndarray:
        """The overlay's drawing, or the bare picture while the camera's size is unknown."""
        overlay = self._overlay
        return overlay.draw_event(frame, event) if overlay is not None else frame.image.copy()

    def _await_first_frame(self, capture: Capture, writer: EventWriter) -> bool:
        """A live camera may be away at start: wait for it, but only as long as the run may last.

        ``False`` when a stop request came first. A run bounded by ``--duration`` that
        never got a frame raises the one-line :class:`SourceError`.
        """
        started = time.monotonic()
        while not capture.ready.wait(0.25):
            self._submit_health(capture, writer, None)
            if self.stop.is_set():
                self.summary.ended_by = "a stop request"
                return False
            waited_s = time.monotonic() - started
            if self.options.duration_s is not None and waited_s >= self.options.duration_s:
                raise capture.no_frame_error(waited_s)
        return True

    def _submit_health(self, capture: Capture, writer: EventWriter, frame: Frame | None) -> None:
        """Turn the camera's health changes into events (``camera.health_events``)."""
        if frame is not None:
            self._last_frame = frame
        wanted = self.config.camera.health_events
        for change in capture.health_changes():
            if change.state not in wanted:
                continue
            last = self._last_frame
            # No picture yet (the camera was away from the start): a black one of its size.
            image = last.image if last is not None else np.zeros(
                (capture.height or 360, capture.width or 640, 3), np.uint8
            )
            t_s = last.t_s if last is not None else 0.0
            # Events leave the box: they name the camera by its id, never by its URL.
            camera_id = self.config.camera.id
            reason = replace_urls(redact(change.reason, self._secrets), f"camera {camera_id}")
            event = health_event(
                change.state, change.previous, reason, camera_id, t_s,
                away_s=change.away_s, attempts=change.attempts,
            )
            writer.submit(event, Frame(image=image, index=-1, t_s=t_s, wall_ts=change.wall_ts))

    def _process(self, frame: Frame, stages: _Stages) -> None:
        detect_started = time.perf_counter()
        # every_n_frames / when are decided inside; see streamer/detect/multi.py.
        dets = stages.detectors.detect(frame)
        self.metrics.inference_seconds.observe(time.perf_counter() - detect_started)
        if stages.recorder is not None:
            stages.recorder.write(json.dumps(detections_to_row(frame.index, dets)) + "\n")
        tracked = stages.tracker.update(frame.t_s, dets)
        for rule in stages.rules:
            events = rule.update(frame.t_s, tracked, frame.wall_ts)
            if self._review is not None:  # a snoozed rule's events go nowhere (issue 16)
                events = self._review.book.filter(events, frame.wall_ts)
            for event in events:
                stages.writer.submit(event, frame)
        if stages.video is not None:
            stages.video.write(stages.overlay.draw(frame, tracked))
        if self._live is not None:
            self._live.publish(frame, tracked)
        now = time.monotonic()
        if now - self._rules_state_at >= 0.25:
            # Rule state is copied here, on the frame loop, so monitor threads never
            # read a rule while it changes.
            self._rules_state_at = now
            self.rules_state = rules_state(stages.rules, frame.t_s)

    def _swap_rules(
        self, new: Config, rules: list, overlay: Overlay, width: int, height: int
    ) -> None:
        """Apply a reloaded config's zones, lines and rules without reopening the stream.

        Rules whose settings and geometry did not change keep their timers and tracks.
        Other sections need a restart; the message says which were left as they were.
        """
        fresh, kept = carry_state(rules, build_rules(new, width, height))
        rules[:] = fresh
        drawn = Overlay(new, width, height)
        overlay.zones, overlay.lines = drawn.zones, drawn.lines
        ignored = [
            name
            for name in ("device_id", "camera", "models", "tracker", "sinks", "outbox", "monitor")
            if getattr(new, name) != getattr(self.config, name)
        ]
        self.config = self.config.model_copy(
            update={"zones": new.zones, "lines": new.lines, "rules": new.rules}
        )
        self.report(
            f"config reloaded: {len(fresh)} rule(s), {kept} kept their state"
            + (f"; changes to {', '.join(ignored)} need a restart" if ignored else "")
        )

    # --- monitor --------------------------------------------------------------------

    def _start_monitor(self) -> None:
        assert self._live is not None
        settings = self.config.monitor
        token = settings.token
        feed = MonitorFeed(
            live=self._live,
            status=self.status,
            events=self._review.with_verdicts(self.recent_events) if self._review else self.recent_events,
            event_image=self.event_image,
            metrics=self.metrics,
            review=self._review,
        )
        try:
            self.monitor = Monitor(
                feed,
                settings.bind,
                token.get_secret_value() if token is not None else None,
                settings.allowed_hosts,
            )
        except ConfigError:
            raise  # no token off loopback: refuse, never serve without one
        except StreamerError as exc:
            # Detection matters more than the page: run on without it.
            log.error("%s; running without the monitor", exc)
            return
        self.monitor.start()
        self.report(f"monitor: {self.monitor.url}")

    def _draw_live(self, frame: Frame, dets: sv.Detections) -> np.ndarray:
        overlay = self._overlay
        return overlay.draw(frame, dets) if overlay is not None else frame.image.copy()

    def status(self) -> dict[str, object]:
        """The live state of the run (JSON-friendly, no secrets): ``/api/status``."""
        capture, writer = self._capture, self._writer
        camera: dict[str, object] = {
            "id": self.config.camera.id,
            "source": redact(self.config.camera.source, self._secrets),
            "state": capture.stats.state if capture else "connecting",
            "frames_total": self.summary.frames,
            "fps_out": round(self._fps_out.rate(self.summary.frames), 2),
        }
        if capture is not None:
            health = capture.health()
            next_wall = health["next_attempt_wall_ts"]
            camera.update(
                state=health["state"],
                fps_in=health["fps"],
                frames_read_total=health["frames_read_total"],
                frames_dropped_total=health["frames_dropped_total"],
                frames_skipped_total=health["frames_skipped_total"],
                reconnects_total=health["reconnects_total"],
                last_frame_age_s=health["last_frame_age_s"],
                last_error=redact(health["last_error"], self._secrets),
                reconnect_attempts=health["reconnect_attempts"],
                next_attempt_at=iso_utc(next_wall) if next_wall else None,
                next_attempt_in_s=health["next_attempt_in_s"],
                away_s=health["away_s"],
                reconnect_max_s=health["reconnect_max_s"],
                width=capture.width,
                height=capture.height,
            )
        events: dict[str, object] = {}
        if writer is not None:
            events = {
                "accepted_total": writer.accepted_total,
                "dropped_total": writer.dropped_total,
                "unstored_total": writer.unstored_total,
                "unstored_reasons": {r: n for r, n in dict(writer.unstored_reasons).items() if n > 0},
                "waiting": writer.waiting,
                "waiting_mb": round(writer.waiting_bytes / 2**20, 3),
                "degraded": bool(writer.store_error),
                "store_error": writer.store_error,
                "by_rule": dict(writer.accepted_by_rule),
            }
        sinks: dict[str, dict[str, object]] = {}
        if self._outbox is not None:
            counts = self._outbox.counts()
            for sender in self._senders:
                entry: dict[str, object] = dict(counts.get(sender.sink.name, {}))
                # Masked here too: a sink's message may quote its URL (a webhook's path
                # is its token) or the camera's.
                entry["last_error"] = redact(sender.last_error, self._secrets)
                entry["files_evicted_total"] = sender.files_evicted_total
                entry["status"] = redact(sender.status, self._secrets)  # "ok", "retrying in ...", "paused: ..."
                entry.update(sender.backlog())  # size, age, drain estimate (issue 14)
                sinks[sender.sink.name] = entry
        return {
            "camera": camera,
            "models": self._detectors.stats() if self._detectors is not None else [],
            "rules": self.rules_state.get("rules", {}),
            "places": {key: self.rules_state.get(key) for key in ("zones", "lines", "indeterminate_persons")},
            "events": events,
            "sinks": sinks,
            "review": self._review.status() if self._review is not None else {},
        }

    def recent_events(self, limit: int = 20) -> list[dict[str, object]]:
        """The latest events accepted in this run, newest first."""
        if self._writer is None:
            return []
        items = list(self._writer.recent)[-limit:]
        return [
            {
                "eventId": item.event_id,
                "timestamp": item.timestamp,
                "rule_id": item.event.rule_id,
                "description": item.event.describe(),
                "reason": item.event.reason,
                "t_s": round(item.event.t_s, 3),
                "delivery": "accepted",
            }
            for item in reversed(items)
        ]

    def event_image(self, event_id: str) -> bytes | None:
        if self._writer is None:
            return None
        for item in list(self._writer.recent):
            if item.event_id == event_id:
                return item.snapshot
        return None

    def _progress_line(self, capture: Capture, writer: EventWriter, elapsed_s: float) -> str:
        frames = self.summary.frames
        total = capture.frame_count
        done = f"{frames}/{total} ({100 * frames / total:.0f}%)" if total else f"{frames}"
        delivered = sum(sender.delivered_total for sender in self._senders)
        line = (
            f"frames {done} · {frames / max(elapsed_s, 1e-9):.1f} fps · "
            f"events {writer.accepted_total} · delivered {delivered} · "
            f"dropped frames {capture.dropped_total}"
        )
        if writer.unstored_total:
            line += f" · not stored {writer.unstored_total}"
        if writer.store_error:
            line += f" · DEGRADED: {writer.store_error} ({writer.waiting} events wait in memory)"
        return line

    def _drain(self, outbox: Outbox) -> None:
        """Give the senders up to ``drain_s`` to deliver what is pending."""
        names = [sender.sink.name for sender in self._senders]
        deadline = time.monotonic() + self.options.drain_s
        for sender in self._senders:
            sender.wake()
        while time.monotonic() < deadline and outbox.pending_total(names) > 0:
            time.sleep(0.05)

    def _close_senders(self) -> None:
        for sender in self._senders:
            if not sender.stop(timeout=15.0):
                log.error("sender %s did not stop in time", sender.sink.name)
            sender.sink.close()
        for client in self._clients:
            client.close()

    def _finish_summary(self, outbox: Outbox, writer: EventWriter | None) -> None:
        s = self.summary
        if writer is not None:
            s.events_accepted = writer.accepted_total
            s.events_by_rule = dict(writer.accepted_by_rule)
            s.events_dropped = writer.dropped_total
            s.events_unstored = {reason: n for reason, n in writer.unstored_reasons.items() if n > 0}
            s.recent_events = [
                f"{item.event.t_s:8.2f}s  {item.event.rule_id}: {item.event.reason}  ({item.event_id})"
                for item in writer.recent
            ]
        s.delivered = {sender.sink.name: sender.delivered_total for sender in self._senders}
        names = [sender.sink.name for sender in self._senders]
        counts = outbox.counts()
        s.pending = sum(counts.get(name, {}).get("pending", 0) for name in names)
        s.dead = sum(counts.get(name, {}).get("dead", 0) for name in names)
        all_stats = outbox.stats()["sinks"]
        assert isinstance(all_stats, dict)
        for sender in self._senders:
            entry = dict(all_stats.get(sender.sink.name, {}))
            entry["status"] = redact(sender.status, self._secrets)
            s.sinks[sender.sink.name] = entry


def _open_video(path: Path, capture: Capture) -> cv2.VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    fps = capture.fps if not capture.config.fps else min(capture.fps, capture.config.fps)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (capture.width, capture.height)
    )
    if not writer.isOpened():
        raise StreamerError(f"--save-video: cannot write a video to {path}")
    return writer


def _open_text(path: Path) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise StreamerError(f"--record-detections: cannot write {path}: {exc}") from None
