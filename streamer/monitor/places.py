"""The places editor's JSON API (issue 26): read, change and preview zones and lines.

Routes (under a camera's prefix, empty for a single-camera run):

- ``GET  /api/places``: ``{"width", "height", "zones": [{"id", "polygon", "rules"}],
  "lines": [{"id", "start", "end", "rules"}], "editable"}``, coordinates as fractions 0..1
  of the frame, as the running camera uses them.
- ``GET  /api/places/frame.jpg``: the camera's newest frame without the overlay.
- ``PUT  /api/places/{id}``: ``{"polygon": [[x, y], ...]}`` or ``{"start": [x, y], "end":
  [x, y]}`` (fractions; a new id adds the place) -> 200 with the place as saved; 422 with
  the validation message; the file is rewritten keeping its comments, with a backup, and
  the running camera takes the new places on its next frame (``"live"`` says whether it
  did within :data:`LIVE_WAIT_S`).
- ``POST /api/places/{id}/preview``: the same body -> what the rules on that place would
  have fired over the recent frames with the change, beside what they did fire.

Writes follow the other monitor writes (monitor/review.py): refused (403) when the
``Origin`` is another site's, a JSON body only (415), and the token when one is set (the
app's middleware, 401). Everything here runs on monitor threads, never the frame loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamer.config.edit import ConfigChanged, ConfigFile, PlaceShape, to_fractions
from streamer.config.models import Config
from streamer.errors import ConfigError, StreamerError
from streamer.events.payload import iso_utc
from streamer.monitor.review import json_write
from streamer.rules import build_rules
from streamer.rules.history import Fired, RuleHistory, fired_by, replay

# A saved place is normally running within one frame; past this the answer says it is not yet.
LIVE_WAIT_S = 2.0

# The running scene as the editor needs it: the config in force and the frame's size.
SceneView = tuple[Config, int, int]


class PlacesUnavailable(StreamerError):
    """The request cannot be served now or by this run (HTTP ``status``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PlacesDesk:
    """The places editor's side of one running camera.

    Attributes:
        scene: the config in force and the frame size; None before the first frame.
        frame_jpeg: the newest frame without overlay, or None.
        config_file: the file the run watches; None: places are read-only (the demo).
        reload: asks the run to load the file now instead of at its next poll.
        history: the recent frames the rules saw (the preview's input); None: no preview.
    """

    scene: Callable[[], SceneView | None]
    frame_jpeg: Callable[[], bytes | None]
    config_file: ConfigFile | None = None
    reload: Callable[[], None] = lambda: None
    history: RuleHistory | None = None
    _replaying: threading.Lock = field(default_factory=threading.Lock)

    def _scene(self) -> SceneView:
        view = self.scene()
        if view is None:
            raise PlacesUnavailable("no frame yet: the frame size is not known", 503)
        return view

    def _file(self) -> ConfigFile:
        if self.config_file is None:
            raise PlacesUnavailable("this run has no config file to save places to", 409)
        return self.config_file

    def places(self) -> dict[str, Any]:
        config, width, height = self._scene()
        users = _rules_by_place(config)
        return {
            "width": width,
            "height": height,
            "zones": [
                {"id": zone.id, "polygon": to_fractions(zone.polygon, width, height),
                 "rules": users.get(zone.id, [])}
                for zone in config.zones
            ],
            "lines": [
                {"id": line.id, **dict(zip(("start", "end"), to_fractions([line.start, line.end], width, height))),
                 "rules": users.get(line.id, [])}
                for line in config.lines
            ],
            "editable": self.config_file is not None,
        }

    def save(self, place_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Validate, write, reload; the place as saved."""
        shape = PlaceShape.from_json(place_id, body)
        config_file = self._file()
        _, width, height = self._scene()
        saved = config_file.save(place_id, shape, width, height)
        self.reload()
        return {
            **saved.edited.place,
            "units": saved.edited.units,
            "added": saved.edited.added,
            "backup": saved.backup.name,
            "live": self._await_live(saved.config),
        }

    def _await_live(self, config: Config) -> bool:
        deadline = time.monotonic() + LIVE_WAIT_S
        while True:
            view = self.scene()
            if view is not None and (view[0].zones, view[0].lines) == (config.zones, config.lines):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def preview(self, place_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """What the rules on ``place_id`` would have fired over the recent frames with the
        change (``would_fire``), beside what they fired (``fired``); nothing is written."""
        shape = PlaceShape.from_json(place_id, body)
        if self.history is None:
            raise PlacesUnavailable("this run keeps no record of recent detections", 409)
        _, width, height = self._scene()
        _, config = self._file().propose(place_id, shape, width, height)
        watching = [rule for rule in config.rules if place_id in rule.places()]
        ids = [rule.id for rule in watching]
        frames = self.history.frames()
        # One replay at a time: a few of them at once would take the CPU from the camera.
        with self._replaying:
            fresh = build_rules(config.model_copy(update={"rules": watching}), width, height)
            would_fire = replay(fresh, frames)
        first, last = (frames[0], frames[-1]) if frames else (None, None)
        return {
            "id": place_id,
            "rules": ids,
            "frames": len(frames),
            "from": _when(first.wall_ts) if first else None,
            "to": _when(last.wall_ts) if last else None,
            # Frame time of the first and last frame replayed (seconds).
            "from_t_s": round(first.t_s, 3) if first else None,
            "to_t_s": round(last.t_s, 3) if last else None,
            "would_fire": [_alert(item) for item in would_fire],
            "fired": [_alert(item) for item in fired_by(frames, ids)],
        }


def _rules_by_place(config: Config) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for rule in config.rules:
        for place in sorted(rule.places()):
            users.setdefault(place, []).append(rule.id)
    return users


def _when(wall_ts: float | None) -> str | None:
    return iso_utc(wall_ts) if wall_ts is not None else None


def _alert(item: Fired) -> dict[str, Any]:
    return {"rule": item.rule_id, "time": _when(item.wall_ts), "t_s": round(item.t_s, 3),
            "description": item.description, "track_id": item.track_id}


def _write_refusal(exc: Exception) -> int | None:
    """The status a places write answers an error with."""
    if isinstance(exc, PlacesUnavailable):
        return exc.status
    if isinstance(exc, ConfigChanged):
        return 409
    if isinstance(exc, ConfigError):  # refused by the same checks as `streamer validate`
        return 422
    if isinstance(exc, StreamerError):  # the file could not be written
        return 500
    return None


def places_routes(desk: PlacesDesk, prefix: str = "") -> list[Route]:
    """One camera's places API under ``prefix`` (``""`` for a single-camera run; several
    cameras in one app mount each camera's desk under its own, e.g. ``/cameras/dock-3``).
    The app adds the token check (its middleware) and the Host check around them."""

    async def places(request: Request) -> Response:
        try:
            return JSONResponse(await anyio.to_thread.run_sync(desk.places))
        except PlacesUnavailable as exc:
            return JSONResponse({"error": str(exc)}, exc.status)

    async def frame(request: Request) -> Response:
        data = await anyio.to_thread.run_sync(desk.frame_jpeg)
        if data is None:
            return JSONResponse({"error": "no frame yet"}, 503)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    def write(action: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
        return json_write(lambda request, body: action(request.path_params["place_id"], body),
                          _write_refusal)

    return [
        Route(f"{prefix}/api/places", places, methods=["GET"]),
        Route(f"{prefix}/api/places/frame.jpg", frame, methods=["GET"]),
        Route(f"{prefix}/api/places/{{place_id}}", write(desk.save), methods=["PUT"]),
        Route(f"{prefix}/api/places/{{place_id}}/preview", write(desk.preview), methods=["POST"]),
    ]
