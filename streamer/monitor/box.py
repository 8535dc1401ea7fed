"""One monitor for every camera of a box.

Routes: ``/`` (the overview: every camera with its state, rates and latest alerts),
``/api/status`` (the box's), ``/metrics`` (every camera's series, each with its
``stream_id`` label), and each camera's own page and API under ``/cameras/{id}/`` (the
same routes a single camera's monitor serves at ``/``). The token and the ``Host`` check
guard every route, the cameras' included.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from streamer.errors import ConfigError
from streamer.monitor.guard import MAX_BODY_BYTES, BodyLimit, NoFraming, TokenGate
from streamer.monitor.server import HostPolicy, MonitorFeed, _HostCheck, build_app


@dataclass
class BoxFeed:
    """What the box's monitor reads: each camera's own feed, and the box's status."""

    cameras: dict[str, MonitorFeed]
    status: Callable[[], dict[str, Any]]


class _BoxMetrics(Collector):
    """Every camera's registry as one exposition: a family once, a series per camera.

    Series that carry no ``stream_id`` (the inference-time histogram) get their camera's.
    """

    def __init__(self, cameras: dict[str, MonitorFeed]) -> None:
        self._cameras = cameras

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for camera_id, feed in self._cameras.items():
            for family in feed.metrics.registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = Metric(family.name, family.documentation, family.type, family.unit)
                    families[family.name] = merged
                for sample in family.samples:
                    labels = sample.labels if "stream_id" in sample.labels else {
                        "stream_id": camera_id, **sample.labels}
                    merged.add_sample(sample.name, labels, sample.value, sample.timestamp)
        yield from families.values()


def build_box_app(
    feed: BoxFeed,
    token: str | None = None,
    closing: threading.Event | None = None,
    hosts: HostPolicy | None = None,
) -> Starlette:
    """The box's ASGI app (see the module's docstring); arguments as :func:`build_app`."""
    closing = closing or threading.Event()
    if token is not None and not token.strip():
        raise ConfigError("monitor.token: is empty; leave it unset or give a real token")
    hosts = hosts or HostPolicy.for_bind("127.0.0.1")
    registry = CollectorRegistry()
    registry.register(_BoxMetrics(feed.cameras))

    async def overview(request: Request) -> Response:
        return HTMLResponse(OVERVIEW)

    async def status(request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(feed.status))

    async def metrics(request: Request) -> Response:
        body = await anyio.to_thread.run_sync(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def camera_root(request: Request) -> Response:
        # The camera's page reads its API by relative paths: it must sit under a '/'.
        url = request.url
        return RedirectResponse(url.replace(path=url.path + "/"), status_code=307)

    routes: list[Any] = [
        Route("/", overview),
        Route("/api/status", status),
        Route("/metrics", metrics),
    ]
    for camera_id, camera_feed in feed.cameras.items():
        # The token is checked once, here, for the camera's routes too.
        routes.append(Route(f"/cameras/{camera_id}", camera_root))
        routes.append(Mount(f"/cameras/{camera_id}", app=build_app(camera_feed, None, closing, hosts)))
    # As a camera's own monitor: unframeable, then Host, then the token, then the body limit.
    middleware = [Middleware(NoFraming), Middleware(_HostCheck, policy=hosts)]
    if token is not None:
        middleware.append(Middleware(TokenGate, token=token))
    middleware.append(Middleware(BodyLimit, limit=MAX_BODY_BYTES))
    return Starlette(routes=routes, middleware=middleware)


OVERVIEW = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamer box</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; background: #111; color: #eee; }
header { padding: 0.6rem 1rem; background: #222; display: flex; gap: 1rem; align-items: baseline; }
h1 { font-size: 1.1rem; margin: 0; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 0.8rem; padding: 0.8rem; }
.camera { background: #1c1c1c; border-radius: 6px; padding: 0.6rem; }
.camera h2 { font-size: 1rem; margin: 0 0 0.4rem; display: flex; gap: 0.5rem; align-items: center; }
.camera a { color: #8cf; }
.camera img { width: 100%; aspect-ratio: 4 / 3; object-fit: contain; background: #000; }
.badge { padding: 0.05rem 0.4rem; border-radius: 3px; font-size: 0.8rem; background: #555; }
.live { background: #2a7; } .offline, .stalled, .stopped { background: #c33; }
.frozen, .moved, .obstructed, .blurred, .connecting { background: #c80; }
.rates { font-size: 0.85rem; color: #bbb; }
.alerts { list-style: none; padding: 0; margin: 0.4rem 0 0; font-size: 0.85rem; }
.alerts li { border-top: 1px solid #333; padding: 0.2rem 0; }
.none { color: #888; }
</style>
</head>
<body>
<header><h1>streamer box</h1><span id="summary">connecting</span></header>
<main id="cameras"></main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
const text = (value) => document.createTextNode(value === null || value === undefined ? "" : String(value));
const fmt = (value) => typeof value === "number" ? value.toFixed(1) : "-";
const cards = new Map();
function card(camera) {
  let item = cards.get(camera.id);
  if (item) return item;
  const root = document.createElement("section"); root.className = "camera"; root.dataset.camera = camera.id;
  const title = document.createElement("h2");
  const link = document.createElement("a"); link.href = withToken(camera.page); link.append(text(camera.id));
  const state = document.createElement("span"); state.className = "badge state";
  title.append(link, state);
  const image = document.createElement("img"); image.alt = "latest picture of " + camera.id;
  const rates = document.createElement("div"); rates.className = "rates";
  const alerts = document.createElement("ul"); alerts.className = "alerts";
  root.append(title, image, rates, alerts);
  document.getElementById("cameras").append(root);
  item = {root, state, image, rates, alerts, page: camera.page};
  cards.set(camera.id, item);
  return item;
}
function show(camera) {
  const item = card(camera);
  item.state.textContent = camera.state; item.state.className = "badge state " + camera.state;
  item.rates.textContent = "in " + fmt(camera.fps_in) + " fps, processed " + fmt(camera.fps_out) +
    " fps, detections " + fmt(camera.detect_fps) + "/s, events " + camera.events_total +
    (camera.error ? " - " + camera.error : "");
  item.alerts.replaceChildren();
  if (!camera.latest.length) {
    const li = document.createElement("li"); li.className = "none"; li.append(text("no alerts yet")); item.alerts.append(li);
  }
  for (const event of camera.latest) {
    const li = document.createElement("li"); li.className = "alert";
    li.append(text(new Date(event.timestamp).toLocaleTimeString() + " " + event.rule_id + ": " + event.description));
    item.alerts.append(li);
  }
}
async function refresh() {
  try {
    const response = await fetch(withToken("api/status"));
    const status = await response.json();
    const live = status.cameras.filter((c) => c.state === "live").length;
    document.getElementById("summary").textContent = status.box.cameras + " cameras, " + live + " live";
    for (const camera of status.cameras) show(camera);
  } catch (error) {
    document.getElementById("summary").textContent = "monitor unreachable";
  }
}
function pictures() {
  for (const item of cards.values()) item.image.src = withToken(item.page + "snapshot.jpg?" + Date.now());
}
refresh().then(pictures);
setInterval(refresh, 1000);
setInterval(pictures, 5000);
</script>
</body>
</html>
"""

__all__ = ["BoxFeed", "build_box_app"]
