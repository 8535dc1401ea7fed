"""Event clips (issue 17): the picture before and after each event, kept and written off
the frame loop."""

from streamer.clips.recorder import ClipRecorder

__all__ = ["ClipRecorder"]
