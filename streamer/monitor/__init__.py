"""The live monitor: a web page per camera, its JSON API and Prometheus metrics."""

from streamer.monitor.live import LiveView
from streamer.monitor.metrics import Metrics
from streamer.monitor.server import Monitor, MonitorFeed, build_app
from streamer.monitor.status import HasStatus, assemble_status

__all__ = [
    "HasStatus", "LiveView", "Metrics", "Monitor", "MonitorFeed", "assemble_status", "build_app",
]
