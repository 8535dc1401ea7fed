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
import supervision as sv

from streamer.config.models import Config, JsonlSinkConfig, VisionEventsSinkConfig
from streamer.detect import Detector, build_detector
from streamer.detect.replay import detections_to_row
from streamer.errors import SinkError, StreamerError
from streamer.events.outbox import Outbox
from streamer.events.sender import Sender
from streamer.events.writer import EventWriter
from streamer.overlay import Overlay
from streamer.redact import redact
from streamer.rules import build_rules
from streamer.sinks.base import Sink
from streamer.source import Capture, Frame
from streamer.track import Tracker

log = logging.getLogger("streamer.runtime")

# One bad frame costs one frame; this many failures in a row means the stage is broken.
MAX_CONSECUTIVE_FRAME_ERRORS = 25


@dataclass(frozen=True)
class RunOptions:
    """How long to run and what to write besides events (the CLI's flags)."""

    max_frames: int | None = None
    duration_s: float | None = None
    save_video: Path | None = None
    record_detections: Path | None = None
    drain_s: float = 10.0
    progress_s: float = 5.0


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
    delivered: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    dead: int = 0
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
            + f", {self.events_dropped} dropped",
            f"delivered this run: {delivered or 'no sinks configured'}"
            + (f" (including {self.backlog_at_start} from an earlier run)" if self.backlog_at_start else ""),
        ]
        if self.pending:
            out.append(
                f"{self.pending} deliveries stay in the outbox; the next run with the same "
                f"outbox sends them first"
            )
        if self.dead:
            out.append(f"{self.dead} deliveries were refused for good (dead letters)")
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
        self._secrets = secrets_of(config)

    # --- building -----------------------------------------------------------------

    def _build_sinks(self) -> list[Sink]:
        sinks: list[Sink] = []
        for sink_config in self.config.sinks:
            if isinstance(sink_config, JsonlSinkConfig):
                from streamer.sinks.jsonl import JsonlSink

                sinks.append(JsonlSink(sink_config))
            elif isinstance(sink_config, VisionEventsSinkConfig):
                from streamer.sinks.vision_events import VisionEventsSink

                client = httpx.Client(timeout=sink_config.timeout_s)
                self._clients.append(client)
                sinks.append(VisionEventsSink(sink_config, client))
            else:  # pragma: no cover - the config union names every sink type
                raise SinkError(f"unknown sink type {sink_config.type!r}")
        return sinks

    # --- running ------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run until the input ends, a limit is reached or ``stop`` is set."""
        started = time.monotonic()
        outbox = Outbox(self.config.outbox.path)
        writer: EventWriter | None = None
        capture: Capture | None = None
        detectors: list[Detector] = []
        video: cv2.VideoWriter | None = None
        recorder: IO[str] | None = None
        delivered_before: dict[str, int] = {}
        try:
            sinks = self._build_sinks()
            sink_names = [sink.name for sink in sinks]
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

            detectors = [build_detector(model) for model in self.config.models]
            capture = Capture(self.config.camera, self.stop)
            capture.start()
            self.report(
                f"source {capture.name}: {capture.width}x{capture.height} at {capture.fps:.1f} fps"
                + (f", {capture.frame_count} frames" if capture.frame_count else "")
            )
            tracker = Tracker(self.config.tracker, capture.fps)
            rules = build_rules(self.config, capture.width, capture.height)
            overlay = Overlay(self.config, capture.width, capture.height)
            writer = EventWriter(
                outbox,
                sink_names,
                device_id=self.config.device_id,
                stream_id=self.config.camera.id,
                render_snapshot=overlay.draw_event,
                queue_size=self.config.outbox.queue_size,
                on_accepted=lambda: [sender.wake() for sender in self._senders],
            )
            writer.start()
            if self.options.save_video:
                video = _open_video(self.options.save_video, capture)
                self.summary.outputs["annotated video"] = str(self.options.save_video)
            if self.options.record_detections:
                recorder = _open_text(self.options.record_detections)
                self.summary.outputs["recorded detections"] = str(self.options.record_detections)
            for sink_config in self.config.sinks:
                if isinstance(sink_config, JsonlSinkConfig):
                    self.summary.outputs[f"events ({sink_config.name})"] = str(sink_config.path)

            loop_started = time.monotonic()
            self._frame_loop(capture, detectors, tracker, rules, overlay, writer, video, recorder)
            self.summary.elapsed_s = time.monotonic() - loop_started
        finally:
            interrupted = self.stop.is_set() and not self.summary.ended_by
            self.stop.set()
            if capture is not None:
                capture.join(timeout=5.0)
                self.summary.frames_dropped = capture.dropped_total
            if writer is not None and not writer.stop():
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
            self._finish_summary(outbox, writer)
            outbox.close()
            if not self.summary.elapsed_s:
                self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _frame_loop(
        self,
        capture: Capture,
        detectors: list[Detector],
        tracker: Tracker,
        rules: list,
        overlay: Overlay,
        writer: EventWriter,
        video: cv2.VideoWriter | None,
        recorder: IO[str] | None,
    ) -> None:
        options = self.options
        started = time.monotonic()
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
            if frame is None:
                continue
            try:
                self._process(frame, detectors, tracker, rules, overlay, writer, video, recorder)
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

    def _process(
        self,
        frame: Frame,
        detectors: list[Detector],
        tracker: Tracker,
        rules: list,
        overlay: Overlay,
        writer: EventWriter,
        video: cv2.VideoWriter | None,
        recorder: IO[str] | None,
    ) -> None:
        results = [detector.detect(frame) for detector in detectors]
        dets = results[0] if len(results) == 1 else sv.Detections.merge(results)
        if recorder is not None:
            recorder.write(json.dumps(detections_to_row(frame.index, dets)) + "\n")
        tracked = tracker.update(frame.t_s, dets)
        for rule in rules:
            for event in rule.update(frame.t_s, tracked):
                writer.submit(event, frame)
        if video is not None:
            video.write(overlay.draw(frame, tracked))

    def _progress_line(self, capture: Capture, writer: EventWriter, elapsed_s: float) -> str:
        frames = self.summary.frames
        total = capture.frame_count
        done = f"{frames}/{total} ({100 * frames / total:.0f}%)" if total else f"{frames}"
        delivered = sum(sender.delivered_total for sender in self._senders)
        return (
            f"frames {done} · {frames / max(elapsed_s, 1e-9):.1f} fps · "
            f"events {writer.accepted_total} · delivered {delivered} · "
            f"dropped frames {capture.dropped_total}"
        )

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
            s.recent_events = [
                f"{event.t_s:8.2f}s  {event.rule_id}: {event.reason}  ({event_id})"
                for event_id, event in writer.recent
            ]
        s.delivered = {sender.sink.name: sender.delivered_total for sender in self._senders}
        names = [sender.sink.name for sender in self._senders]
        counts = outbox.counts()
        s.pending = sum(counts.get(name, {}).get("pending", 0) for name in names)
        s.dead = sum(counts.get(name, {}).get("dead", 0) for name in names)


def secrets_of(config: Config) -> tuple[str, ...]:
    """Literal secret values in a config, for :func:`streamer.redact.redact`."""
    out: list[str] = []
    for sink in config.sinks:
        if isinstance(sink, VisionEventsSinkConfig):
            out.append(sink.api_key.get_secret_value())
    if config.monitor.token is not None:
        out.append(config.monitor.token.get_secret_value())
    return tuple(secret for secret in out if secret)


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
