"""Sources: capture threads that turn a file, camera or stream into stamped frames."""

from streamer.source.capture import Capture, LatestFrame
from streamer.source.frame import Frame

__all__ = ["Capture", "Frame", "LatestFrame"]
