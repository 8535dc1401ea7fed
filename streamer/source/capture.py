"""Picks the source for a camera config: a file, or a live camera or stream.

``Capture(config, stop)`` is the name the runtime and the tests have always used; it is
now this factory, returning a :class:`FileSource` or a :class:`LiveSource`, both of which
satisfy :class:`Source`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from streamer.schema.sections import CameraConfig
from streamer.source.file import FileSource
from streamer.source.live import LiveSource
from streamer.source.openers import classify
from streamer.source.packets import PacketSink


def open_source(
    config: CameraConfig, stop: threading.Event, clock: Callable[[], float] = time.time,
    on_packet: PacketSink | None = None,
) -> FileSource | LiveSource:
    """The source for ``config.source``; nothing is opened until its ``start()``.

    ``on_packet`` receives the compressed packets of a file or RTSP camera (clips)."""
    if classify(config.source) == "file":
        return FileSource(config, stop, clock, on_packet)
    return LiveSource(config, stop, clock, on_packet)


Capture = open_source  # the older name, kept for the runtime and the tests
