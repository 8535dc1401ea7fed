"""Sources: capture threads that turn a file, camera or stream into stamped frames."""

from streamer.source.base import Source, SourceStats
from streamer.source.capture import Capture, open_source
from streamer.source.file import FileSource
from streamer.source.frame import Frame
from streamer.source.handoff import LatestFrame
from streamer.source.health import HealthChange
from streamer.source.live import LiveSource

__all__ = [
    "Capture", "FileSource", "Frame", "HealthChange", "LatestFrame", "LiveSource", "Source",
    "SourceStats", "open_source",
]
