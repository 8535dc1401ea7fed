"""The camera stage as the pipeline sees it: a source (a live or file ``Capture``, or
``replay``'s recorded frames), its health events and its ``/api/status`` section."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from streamer.config.models import Config
from streamer.events.health_event import health_event
from streamer.events.payload import iso_utc
from streamer.health_state import HealthState
from streamer.pipeline.scene import places_of
from streamer.rate import RateMeter
from streamer.redact import redact, replace_urls
from streamer.rules.base import RuleEvent
from streamer.schema.sections import CameraConfig
from streamer.source import Capture, Frame, Source
from streamer.source.view import Places, ReferenceStore, ViewWatch, reference_path, take_reference


class CameraStage:
    """The source plus what the pipeline derives from it.

    ``frames`` reads the frame loop's count (for ``frames_total`` and ``fps_out``).
    """

    def __init__(self, source: Source, config: CameraConfig, secrets: Sequence[str],
                 frames: Callable[[], int], view: ViewWatch | None = None) -> None:
        self.source = source
        self.view = view  # the tamper checks (issue 27); None where they are off
        self._config = config
        self._secrets = secrets
        self._frames = frames
        self._fps_out = RateMeter()
        self._last_frame: Frame | None = None  # frame loop only: health events' picture

    def started_loop(self) -> None:
        """Seed the rate meter so the first /api/status reads a rate over the whole run."""
        self._fps_out.rate(0)

    def ended_reason(self) -> str:
        last_error = self.source.health().get("last_error") or ""
        return "end of input" + (f" ({last_error})" if last_error else "")

    def health_events(self, frame: Frame | None) -> list[tuple[RuleEvent, Frame]]:
        """The camera's health changes as events (``camera.health_events``), each with its
        picture: the last frame, or a black one while there has been none."""
        source = self.source
        if frame is not None:
            self._last_frame = frame
            if self.view is not None:
                self.view.offer(frame)
        wanted = self._config.health_events
        out: list[tuple[RuleEvent, Frame]] = []
        for change in source.health_changes():
            # The `live` that ends a reported tamper episode goes out with it, so a
            # dashboard that saw `moved` also sees the view come back.
            ends_episode = change.state is HealthState.LIVE and change.previous.view \
                and change.previous in wanted
            if change.state not in wanted and not ends_episode:
                continue
            last = self._last_frame
            image = last.image if last is not None else np.zeros(
                (source.height or 360, source.width or 640, 3), np.uint8
            )
            t_s = last.t_s if last is not None else 0.0
            # Events leave the box: they name the camera by its id, never by its URL.
            camera_id = self._config.id
            reason = replace_urls(redact(change.reason, self._secrets), f"camera {camera_id}")
            event = health_event(
                change.state, change.previous, reason, camera_id, t_s,
                away_s=change.away_s, attempts=change.attempts, figures=change.figures,
            )
            out.append((event, Frame(image=image, index=-1, t_s=t_s, wall_ts=change.wall_ts)))
        return out

    def start_view(self) -> None:
        if self.view is not None:
            self.view.start()

    def stop_view(self) -> None:
        if self.view is not None:
            self.view.join()

    def retake_reference(self, places: Places | None = None,
                         reason: str = "the operator said the view is right") -> bool:
        """Take the next frame as the camera's reference view (any thread, returns at once);
        False where the tamper checks are off. ``places``: the places after an edit."""
        if self.view is None:
            return False
        self.view.retake(places, reason)
        return True

    def status(self) -> dict[str, object]:
        """``/api/status``'s ``camera``."""
        frames = self._frames()
        camera: dict[str, object] = {
            "id": self._config.id,
            "source": redact(self._config.source, self._secrets),
            "state": "connecting",
            "frames_total": frames,
            "fps_out": round(self._fps_out.rate(frames), 2),
        }
        source = self.source
        health = source.health()
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
            width=source.width,
            height=source.height,
            view=self.view.status() if self.view is not None else None,
        )
        return {"camera": camera}


def take_camera_reference(config: Config, settle_s: float = 1.0) -> tuple[Path, Frame]:
    """``streamer camera reference``: open the camera, take a frame after ``settle_s`` of
    picture (a stream's first frames may still be settling) and store it as the camera's
    reference view with the places as configured. A running streamer on this outbox picks
    it up at its next check. Raises :class:`SourceError` when no frame comes."""
    stop = threading.Event()
    source = Capture(config.camera, stop)
    source.start()
    started = time.monotonic()
    wait_s = config.camera.open_timeout_s + config.camera.read_timeout_s + 5.0
    frame: Frame | None = None
    first_at: float | None = None
    try:
        while True:
            try:
                got = source.read(timeout=0.25)
            except EOFError:
                break
            if got is not None:
                frame = got
                first_at = first_at or time.monotonic()
                if source.kind == "file" or time.monotonic() - first_at >= settle_s:
                    break
            elif frame is None and time.monotonic() - started > wait_s:
                raise source.no_frame_error(time.monotonic() - started)
    finally:
        stop.set()
        source.join(timeout=5.0)
    if frame is None:
        raise source.no_frame_error(time.monotonic() - started)
    store = ReferenceStore(reference_path(config.outbox.path, config.camera.id))
    take_reference(store, config.camera.id, frame.image, places_of(config),
                   "the operator said the view is right (streamer camera reference)")
    return store.path, frame
