"""The reference view on disk and the thread that watches the picture against it (issue 27).

The reference view is the picture a camera's places (zones, lines) were drawn on. It is
kept beside the outbox (``data/outbox.views/<camera id>.jpg`` for ``data/outbox.db``, with
a ``.json`` that says when, why, and for which places), so it survives restarts; it is
taken on the first run, again whenever the places change, and whenever the operator says
the view is right (the monitor, ``streamer camera reference CONFIG``, or
:meth:`ViewWatch.retake`).

:class:`ViewWatch` runs on its own thread. The frame loop only *offers* it a frame every
``tamper.every_s`` of frame time (a comparison and an assignment: it never waits); the
thread measures the picture against the reference and tells the source's health what it
found (:meth:`streamer.source.base.CaptureBase.set_view`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.health_state import HealthState
from streamer.redact import redact
from streamer.schema.sections import TamperConfig
from streamer.source.frame import Frame
from streamer.source.tamper import ViewJudge, ViewVerdict, view_print

log = logging.getLogger("streamer.source.view")

Places = Mapping[str, Any]  # {"zones": {id: [[x, y], ...]}, "lines": {id: [[x, y], [x, y]]}}
OnVerdict = Callable[[HealthState | None, str, Mapping[str, float | None]], None]
JPEG_QUALITY = 95  # the reference is measured after the round trip through the file


def reference_path(outbox_path: str | os.PathLike[str], camera_id: str) -> Path:
    """Where camera ``camera_id``'s reference view lives: beside the outbox, so a box that
    keeps its outbox across restarts keeps its references too."""
    outbox = Path(outbox_path)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", camera_id) or "camera"
    # Not `outbox.db.views`: tools that take `outbox.db*` for the database and its WAL
    # must not find a folder among them.
    return outbox.parent / f"{outbox.stem}.views" / f"{safe}.jpg"


@dataclass(frozen=True)
class Reference:
    """A stored reference view: the picture and what was written with it."""

    image: np.ndarray
    meta: dict[str, Any]
    mtime_ns: int


class ReferenceStore:
    """The reference view of one camera: a JPEG and a JSON beside it, each written
    atomically (temporary name, then rename), the JSON last so it vouches for the JPEG."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta_path = path.with_suffix(".json")

    def stamp(self) -> int:
        """The JSON's modification time (0: none), to notice a reference taken elsewhere."""
        try:
            return self.meta_path.stat().st_mtime_ns
        except OSError:
            return 0

    def load(self) -> Reference | None:
        """The stored reference, or None when there is none or it cannot be read (then
        a new one is taken: a broken file must not leave the camera unwatched)."""
        try:
            stamp = self.stamp()
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        except (OSError, ValueError) as exc:
            if self.meta_path.exists():
                log.warning("reference view %s unreadable (%s); taking a new one", self.path, exc)
            return None
        if image is None or not isinstance(meta, dict):
            log.warning("reference view %s unreadable; taking a new one", self.path)
            return None
        return Reference(image, meta, stamp)

    def save(self, image: np.ndarray, meta: Mapping[str, Any]) -> Reference:
        """Write the reference; the returned one holds the picture as read back from the
        JPEG, so live pictures are always measured against the same pixels."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError("could not encode the reference view")
        _write_atomic(self.path, jpeg.tobytes())
        _write_atomic(self.meta_path, json.dumps(dict(meta), indent=1).encode())
        decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        if decoded is None:
            raise OSError("could not decode the reference view just written")
        return Reference(np.asarray(decoded), dict(meta), self.stamp())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def reference_meta(camera_id: str, image: np.ndarray, places: Places, reason: str,
                   wall_ts: float) -> dict[str, Any]:
    """The JSON written with a reference view."""
    return {
        "camera_id": camera_id,
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_ts)),
        "taken_wall_ts": wall_ts,
        "reason": reason,
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "places": json.loads(json.dumps(places)),  # plain lists, as read back
    }


def take_reference(store: ReferenceStore, camera_id: str, image: np.ndarray, places: Places,
                   reason: str, wall_ts: float | None = None) -> Reference:
    """Store ``image`` as the camera's reference view (the CLI's way in; a running
    :class:`ViewWatch` notices the new file at its next check)."""
    wall = time.time() if wall_ts is None else wall_ts
    return store.save(image, reference_meta(camera_id, image, places, reason, wall))


class ViewWatch:
    """Measures the picture against the reference view on its own thread.

    Args:
        settings: ``camera.tamper``.
        store: where the reference lives.
        camera_id: for the reference's JSON and the log.
        places: the places as configured now; a stored reference drawn for other places
            is taken again.
        on_verdict: called on this thread when the view state changes (None: right again).
        stop: the run's stop event.
    """

    def __init__(self, settings: TamperConfig, store: ReferenceStore, camera_id: str, places: Places,
                 on_verdict: OnVerdict, stop: threading.Event) -> None:
        self.settings = settings
        self.store = store
        self.camera_id = camera_id
        self._on_verdict = on_verdict
        self._stop = stop
        self._cond = threading.Condition()
        self._offered: Frame | None = None
        self._next_t = -math.inf
        # At most one check per every_s of wall time too: on a camera frame time is wall
        # time and nothing changes; a file read faster than real time would otherwise get
        # a check every few frames and take the frame loop's CPU.
        self._next_wall = -math.inf
        self._places: Places = places
        self._retake: str | None = None  # why the next frame becomes the reference
        self._judge: ViewJudge | None = None
        self._reference: Reference | None = None
        self._state: HealthState | None = None
        self._last: ViewVerdict | None = None
        self._thread: threading.Thread | None = None
        self.checks_total = 0
        self.check_seconds_total = 0.0
        self.errors_total = 0
        self.references_taken_total = 0

    # --- any thread ---------------------------------------------------------------

    def offer(self, frame: Frame) -> None:
        """Frame loop: hand over a frame when a check is due (``every_s`` after the last
        one, in frame time and in wall time). Never waits, never copies."""
        if self._retake is None and (frame.t_s < self._next_t or time.monotonic() < self._next_wall):
            return
        with self._cond:
            self._offered = frame
            self._next_t = frame.t_s + self.settings.every_s
            self._next_wall = time.monotonic() + self.settings.every_s
            self._cond.notify()

    def retake(self, places: Places | None = None, reason: str = "the operator said the view is right") -> None:
        """Take the next frame as the reference view (any thread; returns at once).

        ``places``: the places as they are now (after an edit), kept with the reference.
        """
        with self._cond:
            if places is not None:
                self._places = places
            self._retake = reason
            self._next_t = self._next_wall = -math.inf

    def transform(self) -> np.ndarray | None:
        """While ``moved``: the 2x3 matrix from reference to live frame pixels (for drawing
        the places where they now fall), else None."""
        last = self._last
        if self._state is not HealthState.MOVED or last is None:
            return None
        return last.check.transform

    def status(self) -> dict[str, Any]:
        """``/api/status``'s ``camera.view``."""
        last, reference = self._last, self._reference
        meta = reference.meta if reference is not None else {}
        return {
            "state": str(self._state) if self._state is not None else ("live" if last else None),
            "figures": dict(last.figures) if last is not None else {},
            "reason": last.reason if last is not None else "",
            "reference": {
                "taken_at": meta.get("taken_at"), "reason": meta.get("reason"),
                "night": self._judge.reference.night if self._judge is not None else None,
            } if reference is not None else None,
            "retake_pending": self._retake is not None,
            "every_s": self.settings.every_s,
            "checks_total": self.checks_total,
            "check_ms": round(1000 * self.check_seconds_total / self.checks_total, 2) if self.checks_total else None,
            "errors_total": self.errors_total,
        }

    # --- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="view-watch", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                if self._offered is None:
                    self._cond.wait(0.5)
                frame, self._offered = self._offered, None
            if frame is None:
                continue
            try:
                self.check(frame)
            except Exception as exc:  # one bad check costs one check, never the watch
                self.errors_total += 1
                log.error("view check of camera %s failed: %s", self.camera_id, redact(exc))

    def check(self, frame: Frame) -> ViewVerdict | None:
        """One check (the watch's thread; tests call it directly): take or reload the
        reference if needed, then judge the frame. None when the frame became the reference."""
        started = time.perf_counter()
        try:
            return self._check(frame)
        finally:
            self.checks_total += 1
            self.check_seconds_total += time.perf_counter() - started

    def _check(self, frame: Frame) -> ViewVerdict | None:
        image = frame.image
        if self._reference is None and self._retake is None:
            stored = self.store.load()
            why = self._stale(stored, image)
            if why:
                self._retake = why
            else:
                assert stored is not None
                self._use(stored)
        elif self._reference is not None and self._retake is None:
            if self.store.stamp() != self._reference.mtime_ns:  # taken by the CLI meanwhile
                stored = self.store.load()
                if stored is not None and not self._stale(stored, image):
                    log.info("camera %s: a new reference view was stored; using it", self.camera_id)
                    self._use(stored)
                    self._tell(None, "a new reference view was taken")
        if self._retake is not None:
            with self._cond:
                reason, self._retake = self._retake, None
                places = self._places
            self._use(take_reference(self.store, self.camera_id, image, places, reason, frame.wall_ts))
            self.references_taken_total += 1
            log.info("camera %s: reference view taken (%s)", self.camera_id, reason)
            self._tell(None, "a new reference view was taken")
            return None
        assert self._judge is not None
        verdict = self._judge.update(frame.t_s, image)
        self._last = verdict
        if verdict.state is not self._state:
            self._tell(verdict.state, verdict.reason, verdict.figures)
        return verdict

    def _stale(self, stored: Reference | None, image: np.ndarray) -> str:
        """Why a stored reference cannot serve ('' when it can)."""
        if stored is None:
            return "first run"
        meta = stored.meta
        if (meta.get("width"), meta.get("height")) != (image.shape[1], image.shape[0]):
            return "the picture's size changed"
        if meta.get("places") != json.loads(json.dumps(self._places)):
            return "the places changed since the reference view was taken"
        return ""

    def _use(self, reference: Reference) -> None:
        self._reference = reference
        self._judge = ViewJudge(self.settings, view_print(reference.image))
        self._last = None

    def _tell(self, state: HealthState | None, reason: str,
              figures: Mapping[str, float | None] | None = None) -> None:
        if state is self._state:
            return
        self._state = state
        self._on_verdict(state, reason, dict(figures or {}))
