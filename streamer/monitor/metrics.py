"""Prometheus metrics, read from the same status structure as ``/api/status``.

A registry per runtime (no process-global state): counters and gauges are derived at
scrape time from the status dict, so the numbers on the page and in Prometheus can never
disagree; only the inference-time histogram is observed as frames go by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streamer.health_state import ALL_STATES

# One gauge series per state, every state listed (from the enum, not a copy).
SOURCE_STATES = ALL_STATES


class Metrics:
    """The runtime's metrics registry."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.inference_seconds = Histogram(
            "streamer_inference_seconds",
            "Time spent in the detectors per frame.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.registry.register(_StatusCollector(status))


class _StatusCollector(Collector):
    """Families read from the status dict at each scrape, in the page's order: the
    camera (source, view, health state), the events, the sinks."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        camera = status.get("camera", {})
        stream = [str(camera.get("id", ""))]
        yield from _camera_metrics(camera, stream)
        yield from _event_metrics(status.get("events", {}), stream)
        yield from _sink_metrics(status.get("sinks", {}))


def _counter(name: str, doc: str, stream: list[str], value: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["stream_id"])
    family.add_metric(stream, float(value or 0))
    return family


def _gauge(name: str, doc: str, stream: list[str], value: Any) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["stream_id"])
    family.add_metric(stream, float(value or 0))
    return family


# (family, name, help, the camera status key it reads), in the page's order.
_CAMERA_FIGURES = (
    (_counter, "streamer_frames", "Frames processed by the frame loop.", "frames_total"),
    (_counter, "streamer_frames_dropped",
     "Frames a live source replaced before the frame loop took them.", "frames_dropped_total"),
    (_counter, "streamer_source_reconnects", "Times the source was reopened.", "reconnects_total"),
    (_gauge, "streamer_source_reconnect_attempts",
     "Opens tried in the current outage (0 while frames flow).", "reconnect_attempts"),
    (_gauge, "streamer_source_fps", "Frames per second read from the source.", "fps_in"),
    (_gauge, "streamer_pipeline_fps", "Frames per second through the rules.", "fps_out"),
    (_gauge, "streamer_last_frame_age_seconds",
     "Seconds since the source last delivered a frame.", "last_frame_age_s"),
)
# The same for the events' status keys.
_EVENT_FIGURES = (
    (_counter, "streamer_events_dropped",
     "Events lost because the in-memory queue to the outbox was full.", "dropped_total"),
    (_counter, "streamer_events_unstored",
     "Events that never reached the outbox (it could not be written); reasons on /api/status.",
     "unstored_total"),
    (_gauge, "streamer_events_waiting",
     "Events held in memory while the outbox cannot be written.", "waiting"),
)


def _camera_metrics(camera: dict[str, Any], stream: list[str]) -> Iterator[Metric]:
    """The frame loop and its source: frames, reconnects, rates, the view checks and the
    health state."""
    for family, name, doc, key in _CAMERA_FIGURES:
        yield family(name, doc, stream, camera.get(key))
    view = camera.get("view")
    if isinstance(view, dict):
        yield from _view_metrics(view, stream)
    state = GaugeMetricFamily(
        "streamer_source_state", "1 for the source's current health state.", labels=["stream_id", "state"]
    )
    current = camera.get("state")
    for name in sorted(set(SOURCE_STATES) | ({current} if current else set())):
        state.add_metric([*stream, name], 1.0 if name == current else 0.0)
    yield state


def _view_metrics(view: dict[str, Any], stream: list[str]) -> Iterator[Metric]:
    """The tamper checks' last figures against the reference view."""
    figures = view.get("figures") or {}
    for name, key, doc in (
        ("streamer_view_shift_pixels", "shift_px",
         "How far the scene moved against the reference view, frame pixels (last check)."),
        ("streamer_view_covered_ratio", "covered",
         "Share of the reference view's textured picture now flat or dark (last check)."),
        ("streamer_view_sharpness_ratio", "sharpness_ratio",
         "Sharpness against the reference view's (last check; 1 = as sharp)."),
    ):
        if figures.get(key) is not None:
            yield _gauge(name, doc, stream, figures[key])
    yield _counter("streamer_view_checks", "Checks of the picture against the reference view.",
                   stream, view.get("checks_total"))


def _event_metrics(events: dict[str, Any], stream: list[str]) -> Iterator[Metric]:
    """Events by rule, and those lost or waiting on the way to the outbox."""
    by_rule = CounterMetricFamily(
        "streamer_events", "Events accepted into the outbox, by rule.", labels=["stream_id", "rule_id"]
    )
    for rule_id, count in sorted(events.get("by_rule", {}).items()):
        by_rule.add_metric([*stream, str(rule_id)], float(count))
    yield by_rule
    for family, name, doc, key in _EVENT_FIGURES:
        yield family(name, doc, stream, events.get(key))
    yield _gauge(
        "streamer_outbox_degraded",
        "1 while the outbox cannot be written (events wait in memory).", stream,
        1 if events.get("degraded") else 0,
    )


def _sink_metrics(sinks: dict[str, Any]) -> Iterator[Metric]:
    """Deliveries by sink and state, the oldest pending one's age, file sinks' evictions."""
    deliveries = GaugeMetricFamily(
        "streamer_deliveries", "Deliveries in the outbox by sink and state.", labels=["sink", "state"]
    )
    age = GaugeMetricFamily(
        "streamer_oldest_pending_age_seconds", "Age of the oldest pending delivery.", labels=["sink"]
    )
    evicted = CounterMetricFamily(
        "streamer_sink_files_evicted",
        "Events a file sink (jsonl, bundle) removed from disk to keep to its size and age limits.",
        labels=["sink"],
    )
    for sink, counts in sorted(sinks.items()):
        for state_name in ("pending", "delivered", "dead"):
            deliveries.add_metric([sink, state_name], float(counts.get(state_name, 0) or 0))
        age.add_metric([sink], float(counts.get("oldest_pending_age_s", 0) or 0))
        evicted.add_metric([sink], float(counts.get("files_evicted_total", 0) or 0))
    yield deliveries
    yield age
    yield evicted
