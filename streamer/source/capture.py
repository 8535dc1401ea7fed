"""Picks the source for a camera config: a file, or a live camera or stream.

``Capture(config, stop)`` is the name the runtime and the tests have always used; it is
now this factory, returning a :class:`FileSource` or a :class:`LiveSource`, both of which
satisfy :class:`Source`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from streamer.schema import CameraConfig
from streamer.source.file import FileSource
from streamer.source.live import LiveSource
from streamer.source.openers import classify


def open_source(
    config: CameraConfig, stop: threading.Event, clock: Callable[[], float] = time.time
) -> FileSource | LiveSource:
    """The source for ``config.source``; nothing is opened until its ``start()``."""
    if classify(config.source) == "file":
        return FileSource(config, stop, clock)
    return LiveSource(config, stop, clock)


Capture = open_source  # the older name, kept for the runtime and the tests
