"""Sources: capture threads that turn a file, camera or stream into stamped frames."""

from streamer.source.base import Source, SourceStats
from streamer.source.capture import Capture, open_source
from streamer.source.file import FileSource
from streamer.source.frame import Frame
from streamer.source.handoff import LatestFrame
from streamer.source.live import LiveSource
from streamer.source.source_health import HealthChange

__all__ = [
    "Capture", "FileSource", "Frame", "HealthChange", "LatestFrame", "LiveSource", "Source",
    "SourceStats", "open_source",
]
