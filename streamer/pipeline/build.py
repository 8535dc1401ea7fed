"""``build_pipeline``: the one place that wires the stages.

``run``, ``demo``, ``replay`` and the benchmarks call it; what it returns runs with
:meth:`Pipeline.run` (``run.py``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack

import httpx

from streamer.clips import ClipRecorder
from streamer.config.loader import config_where
from streamer.config.models import Config, config_secrets
from streamer.detect import Detector, build_detector
from streamer.detect.base import DetectorContext
from streamer.detect.multi import DetectorSet
from streamer.detect.shared import SharedModels
from streamer.errors import ConfigError
from streamer.events.outbox import Outbox
from streamer.events.writer import EventWriter
from streamer.monitor import HasStatus, LiveView, Metrics, assemble_status
from streamer.monitor.review import PrecisionCollector, ReviewDesk, wall_now
from streamer.pipeline.camera import CameraStage
from streamer.pipeline.events import EventsStage
from streamer.pipeline.options import RunOptions
from streamer.pipeline.run import Pipeline
from streamer.pipeline.scene import places_of, tamper_enabled
from streamer.pipeline.senders import Delivery, build_sinks
from streamer.pipeline.step import FrameStep
from streamer.pipeline.summary import RunSummary
from streamer.rules.history import RuleHistory
from streamer.schema.bases import rule_clip
from streamer.schema.checks import check_model_classes
from streamer.schema.rule_parts import ScheduleConfig
from streamer.source import Capture, Source
from streamer.source.openers import classify
from streamer.source.substream import SubStream
from streamer.source.view import ReferenceStore, ViewWatch, reference_path


def stderr_report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_pipeline(
    config: Config,
    options: RunOptions = RunOptions(),
    *,
    stop: threading.Event | None = None,
    report: Callable[[str], None] = stderr_report,
    source: Source | None = None,
    models: SharedModels | None = None,
) -> Pipeline:
    """Wire one camera's stages; nothing starts until :meth:`Pipeline.run`.

    ``source`` replaces the camera (``replay``'s recorded frames); by default the
    config's camera is opened. ``models``: a box's shared models and inference workers
    (``streamer run a.yaml b.yaml``); by default the camera loads its own. What this opens
    is closed again if a later stage fails.
    """
    stop = stop or threading.Event()
    secrets = config_secrets(config)
    summary = RunSummary()
    stages: list[HasStatus] = []
    metrics = Metrics(lambda: assemble_status(stages))
    with ExitStack() as undo:
        delivery: Delivery | None = None
        if options.deliver:
            outbox = Outbox(config.outbox.path, config.outbox.max_mb, config.outbox.ttl_days, repair=True,
                            owner=f"camera {config.camera.id}")
            undo.callback(outbox.close)
            clients: list[httpx.Client] = []
            undo.callback(_close_clients, clients)
            delivery = Delivery(outbox, build_sinks(config, clients), clients, secrets)
            undo.callback(delivery.close)
        own_camera = DetectorContext(camera_source=config.camera.source)
        loaded = [build_detector(model, own_camera) if models is None
                  else models.detector(model, config.camera.id, own_camera) for model in config.models]
        detectors = DetectorSet.of(loaded, config.models)
        undo.callback(detectors.close)
        _check_loaded_classes(config, loaded)
        events = EventsStage(None)
        step = FrameStep(config, detectors, events, metrics.inference_seconds.observe)
        step.live = LiveView(step.draw_live, max_fps=config.monitor.max_fps)
        if config.monitor.enabled and options.monitor:
            step.history = RuleHistory()  # the places editor's "what would it have fired?"
        if delivery is not None:
            events.writer = EventWriter(
                delivery.outbox,
                delivery.sink_names,
                device_id=config.device_id,
                stream_id=config.camera.id,
                render_snapshot=step.draw_event,
                queue_size=config.outbox.queue_size if options.event_queue is None else options.event_queue,
                on_accepted=delivery.wake,
                backlog_bytes=int(config.outbox.backlog_mb * 2**20),
                include_input_image=any(sink_config.sends_input_image() for sink_config in config.sinks),
            )
        review: ReviewDesk | None = None
        if delivery is not None:
            review = _review_desk(config, delivery, step)
            step.snoozes = review.book
        if config.camera.detect_source is not None and source is None:
            step.detect_feed = _detect_feed(config, stop)
        clips = _clip_recorder(config, events, step) if delivery is not None else None
        step.clips = clips
        capture = source or Capture(config.camera, stop, on_packet=clips.on_packet if clips else None)
        view = _view_watch(config, capture, stop) if delivery is not None and source is None else None
        camera = CameraStage(capture, config.camera, secrets, lambda: summary.frames, view)
        step.view_transform = view.transform if view is not None else None
        stages += [camera, step, events, *([delivery] if delivery is not None else [])]
        if clips is not None:
            stages.append(clips)
        if review is not None:
            stages.append(_ReviewStatus(review))
            metrics.registry.register(PrecisionCollector(lambda: assemble_status(stages)))
        pipeline = Pipeline(
            config, options, stop, report, summary=summary, camera=camera, step=step,
            events=events, delivery=delivery, metrics=metrics, stages=stages, secrets=secrets,
            review=review, clips=clips,
        )
        undo.pop_all()
    return pipeline


def _check_loaded_classes(config: Config, loaded: list[Detector]) -> None:
    """`validate`'s class check again, with the names the loaded models report (a Roboflow
    model fetched on this start, a names file edited since): a blind rule stops the run
    before the first frame."""
    own = [detector.class_names for detector in loaded]
    problems = check_model_classes(config, own)
    if problems:
        raise ConfigError(config_where(config, problems))


def _view_watch(config: Config, source: Source, stop: threading.Event) -> ViewWatch | None:
    """The tamper checks (issue 27), where on: the reference view lives beside the outbox."""
    if not tamper_enabled(config):
        return None
    store = ReferenceStore(reference_path(config.outbox.path, config.camera.id))
    return ViewWatch(config.camera.tamper, store, config.camera.id, places_of(config), source.set_view, stop)


def _detect_feed(config: Config, stop: threading.Event) -> SubStream:
    """``camera.detect_source``: the same camera settings on the second stream, without
    its own health events (the main stream's say whether the camera is there)."""
    camera = config.camera
    sub = camera.model_copy(
        update={"source": camera.detect_source, "detect_source": None, "resize": None,
                "health_events": []}
    )
    both_files = not camera.realtime and classify(camera.source) == "file" == classify(sub.source)
    return SubStream(Capture(sub, stop), lockstep=both_files)


def _clip_recorder(config: Config, events: EventsStage, step: FrameStep) -> ClipRecorder | None:
    """The clip recorder, where any rule's events get clips (a reload may change their
    lengths; one that adds the first clip takes effect on the next start)."""
    clips = [c for rule in config.rules if (c := rule_clip(rule, config.clips)) is not None]
    if not clips:
        return None
    return ClipRecorder(
        config.clips.buffer_mb, max(c.pre_s for c in clips), events.attach_clip, step.draw_live
    )


def _review_desk(config: Config, delivery: Delivery, step: FrameStep) -> ReviewDesk:
    """Operators' verdicts and snoozes (issue 16): stored in the outbox, snoozes timed by
    the newest frame's wall clock, shift ends from the rules as the current scene has them."""

    def schedules() -> dict[str, ScheduleConfig | None]:
        rules = (step.scene.config if step.scene is not None else config).rules
        return {rule.id: rule.schedule for rule in rules}

    return ReviewDesk(
        delivery.outbox.store, delivery.sink_names, config.device_id, config.camera.id,
        frame_now=wall_now(lambda: step.last_wall_ts), schedules=schedules,
        wake_senders=delivery.wake,
    )


class _ReviewStatus:
    """``/api/status``'s ``review``: precision per rule, live snoozes, alerts held back."""

    def __init__(self, desk: ReviewDesk) -> None:
        self._desk = desk

    def status(self) -> dict[str, object]:
        return {"review": self._desk.status()}


def _close_clients(clients: list[httpx.Client]) -> None:
    for client in clients:
        client.close()
