"""The live monitor: a web page per camera, its JSON API and Prometheus metrics."""

from streamer.monitor.live import LiveView
from streamer.monitor.metrics import Metrics
from streamer.monitor.server import Monitor, MonitorFeed, build_app

__all__ = ["LiveView", "Metrics", "Monitor", "MonitorFeed", "build_app"]
