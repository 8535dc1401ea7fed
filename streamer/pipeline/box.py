"""A box: every camera of an edge box in one process (``streamer run a.yaml b.yaml ...``).

Each camera is the pipeline its own config describes (zones, lines, rules, tracker, clips,
health, outbox, sinks), run on its own frame-loop thread with its own stop. What the box
shares is what costs: the model in memory and the cores it runs on
(:mod:`streamer.detect.shared`), and one monitor page for all cameras. One camera's
outage, hang or backlog never holds another: a camera waits only for its own frame and for
its own inference call, and the calls are served first come, first served (a keep-alive
lets runs on motion go first for a moment).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from streamer.config.models import Config, config_secrets
from streamer.detect import build_detector
from streamer.detect.shared import InferencePool, SharedModels, default_threads, default_workers
from streamer.errors import ConfigError, StreamerError
from streamer.monitor import Monitor
from streamer.monitor.box import BoxFeed, build_box_app
from streamer.pipeline.build import build_pipeline
from streamer.pipeline.options import RunOptions
from streamer.pipeline.run import Pipeline
from streamer.pipeline.summary import RunSummary
from streamer.rate import RateMeter
from streamer.redact import redact

log = logging.getLogger("streamer.pipeline.box")

CONFIG_SUFFIXES = (".yaml", ".yml")
LATEST_ALERTS = 3  # per camera on the overview


def config_paths(paths: Sequence[Path]) -> list[Path]:
    """The camera configs named: files as given, a folder as its ``*.yaml`` in name order
    (the layout ``deploy/cameras.py`` reads). Raises ``ConfigError`` for an empty folder."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file())
            if not found:
                raise ConfigError(f"{path}: no *.yaml camera configs in this folder")
            out += found
        else:
            out.append(path)
    return out


def own_outbox(config: Config, slug: str) -> Config:
    """A camera that leaves ``outbox.path`` unset gets ``data/<camera>/outbox.db`` in a box:
    one process, one working directory, so the single-camera default would be shared."""
    if "path" in config.outbox.model_fields_set:
        return config
    outbox = config.outbox.model_copy(update={"path": Path("data") / slug / "outbox.db"})
    return config.model_copy(update={"outbox": outbox})


def check_box(configs: Sequence[tuple[Path, Config]]) -> None:
    """Refuse, in one line, two cameras that would write over each other: the same
    ``camera.id`` (events and pages name cameras by it) or the same outbox file."""
    ids: dict[str, Path] = {}
    outboxes: dict[Path, Path] = {}
    for (path, config), slug in zip(configs, slugs(config.camera.id for _, config in configs)):
        config = own_outbox(config, slug)
        other = ids.setdefault(config.camera.id, path)
        if other != path:
            raise ConfigError(
                f"{path} camera.id: {config.camera.id!r} is also the id of {other}'s camera; "
                "each camera of a box needs its own id"
            )
        outbox = Path(os.path.abspath(config.outbox.path))
        other = outboxes.setdefault(outbox, path)
        if other != path:
            raise ConfigError(
                f"{path} outbox.path: {config.outbox.path} is also {other}'s outbox; "
                "each camera of a box needs its own outbox file"
            )


@dataclass
class BoxCamera:
    """One camera of the box: its config, its pipeline and how its run ended."""

    path: Path
    config: Config
    pipeline: Pipeline
    stop: threading.Event = field(default_factory=threading.Event)
    summary: RunSummary | None = None
    error: str | None = None  # the one line that stopped this camera, if any
    thread: threading.Thread | None = None
    _detect_rate: RateMeter = field(default_factory=RateMeter)

    slug: str = ""  # the camera's folder in the box's monitor: /cameras/{slug}/

    @property
    def id(self) -> str:
        return self.config.camera.id

    def overview(self) -> dict[str, object]:
        """The overview's row: state, rates and the latest alerts (no secrets)."""
        status = self.pipeline.status()
        camera = status.get("camera", {})
        assert isinstance(camera, dict)
        models = status.get("models", [])
        runs = sum(int(m.get("runs_total", 0)) for m in models) if isinstance(models, list) else 0
        events = status.get("events", {})
        return {
            "id": self.id,
            "page": f"cameras/{self.slug}/",
            "state": "stopped" if self.error else camera.get("state", "connecting"),
            "error": self.error,
            "fps_in": camera.get("fps_in"),
            "fps_out": camera.get("fps_out"),
            "detect_fps": round(self._detect_rate.rate(runs), 2),
            "frames_total": camera.get("frames_total", 0),
            "last_frame_age_s": camera.get("last_frame_age_s"),
            "events_total": events.get("accepted_total", 0) if isinstance(events, dict) else 0,
            "latest": [
                {key: event.get(key) for key in ("eventId", "timestamp", "rule_id", "description")}
                for event in self.pipeline.events.recent(LATEST_ALERTS)
            ],
        }


class Box:
    """The cameras of one box, built from their configs; :meth:`run` runs them all.

    ``workers``/``threads``: inference workers and each call's onnxruntime threads, set
    once for the box (default: one worker per core, at most one per camera, and the cores
    the workers leave as each call's threads).
    """

    def __init__(
        self,
        configs: Sequence[tuple[Path, Config]],
        options: RunOptions,
        *,
        stop: threading.Event | None = None,
        report: Callable[[str], None],
        monitor: Config | None = None,
        workers: int | None = None,
        threads: int | None = None,
    ) -> None:
        check_box(configs)
        self.stop = stop or threading.Event()
        self.report = report
        self.options = options
        self._monitor_config = monitor
        self.monitor: Monitor | None = None
        workers = workers or default_workers(len(configs))
        pool = InferencePool(workers, threads or default_threads(workers))
        self.models = SharedModels(pool, build_detector)
        self.cameras: list[BoxCamera] = []
        try:
            for (path, config), slug in zip(configs, slugs(c.camera.id for _, c in configs)):
                config = own_outbox(config, slug)
                camera_options = replace(options, monitor=False, watch_config=path)
                pipeline = build_pipeline(
                    config, camera_options, stop=threading.Event(),
                    report=_prefixed(report, config.camera.id), models=self.models,
                )
                self.cameras.append(BoxCamera(path, config, pipeline, stop=pipeline.stop, slug=slug))
        except BaseException:
            self._close_built()
            raise

    def _close_built(self) -> None:
        for camera in self.cameras:
            camera.pipeline.step.close()
            if camera.pipeline.delivery is not None:
                camera.pipeline.delivery.close()
                camera.pipeline.delivery.outbox.close()
        self.models.close()

    def status(self) -> dict[str, object]:
        """The box's ``/api/status``: every camera's overview row and the shared models."""
        return {
            "box": {"cameras": len(self.cameras), "inference": self.models.status()},
            "cameras": [camera.overview() for camera in self.cameras],
        }

    def run(self) -> list[BoxCamera]:
        """Run every camera until each has ended (its input, a limit, a stop request)."""
        try:
            if self._monitor_config is not None:
                self._start_monitor(self._monitor_config)
            for camera in self.cameras:
                camera.thread = threading.Thread(
                    target=self._run_camera, args=(camera,), name=f"camera-{camera.id}", daemon=True
                )
                camera.thread.start()
            self.report(
                f"box: {len(self.cameras)} cameras, {self.models.pool.workers} inference "
                f"worker(s) x {self.models.pool.threads} thread(s)"
            )
            while any(c.thread is not None and c.thread.is_alive() for c in self.cameras):
                if self.stop.wait(0.25):
                    for camera in self.cameras:
                        camera.stop.set()
                    break
            for camera in self.cameras:
                assert camera.thread is not None
                # Each camera drains its own senders within drain_s after its stop.
                camera.thread.join()
        finally:
            for camera in self.cameras:
                camera.stop.set()
            if self.monitor is not None:
                self.monitor.stop()
            self.models.close()
        return self.cameras

    def _run_camera(self, camera: BoxCamera) -> None:
        try:
            camera.summary = camera.pipeline.run()
        except StreamerError as exc:
            # One camera's fatal error stops that camera, not the box.
            camera.error = redact(exc, config_secrets(camera.config))
            camera.summary = camera.pipeline.summary
            self.report(f"[{camera.id}] stopped: {camera.error}")
        except Exception:
            camera.error = "internal error (see the log)"
            camera.summary = camera.pipeline.summary
            log.critical("camera %s crashed", camera.id, exc_info=True)

    def _start_monitor(self, config: Config) -> None:
        settings = config.monitor
        if not settings.enabled:
            return
        feed = BoxFeed(
            cameras={camera.slug: camera.pipeline.monitor_feed() for camera in self.cameras},
            status=self.status,
        )
        self.monitor = monitor = Monitor.started(feed, settings, app_builder=build_box_app)
        if monitor is not None:
            self.report(f"monitor: {monitor.url} (every camera: {monitor.url}cameras/<id>/)")


def slugs(camera_ids: Iterable[str]) -> list[str]:
    """Each camera's id as one URL path segment and folder name, unique in the box."""
    taken: list[str] = []
    for camera_id in camera_ids:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", camera_id).strip("-.") or "camera"
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.append(slug)
    return taken


def _prefixed(report: Callable[[str], None], camera_id: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        report(f"[{camera_id}] {line}")

    return say


def wait_started(box: Box, timeout_s: float) -> bool:
    """True once every camera's loop has taken a frame (tests and benchmarks)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(c.pipeline.summary.frames > 0 for c in box.cameras):
            return True
        time.sleep(0.1)
    return False


__all__ = ["Box", "BoxCamera", "check_box", "config_paths", "own_outbox", "slugs"]
