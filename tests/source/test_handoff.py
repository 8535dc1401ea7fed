"""The file hand-off: a slow frame loop still gets every frame before the end marker."""

from __future__ import annotations

import threading
import time

import numpy as np

from streamer.source.frame import Frame
from streamer.source.handoff import END, FrameQueue


def test_the_end_of_a_file_waits_for_a_slow_frame_loop_instead_of_dropping_a_frame() -> None:
    stop = threading.Event()
    handoff = FrameQueue(stop, maxsize=4)
    image = np.zeros((2, 2, 3), np.uint8)
    for index in range(4):
        assert handoff.put(Frame(image=image, index=index, t_s=index / 10, wall_ts=0.0))
    ender = threading.Thread(target=handoff.end)
    ender.start()
    seen = []
    while True:
        time.sleep(0.3)  # slower than end()'s 0.2 s retry: the old code dropped a frame here
        item = handoff.get(timeout=1.0)
        if item is END:
            break
        assert isinstance(item, Frame)
        seen.append(item.index)
    ender.join(5)
    assert seen == [0, 1, 2, 3]


def test_once_the_run_stops_the_end_marker_makes_room() -> None:
    stop = threading.Event()
    handoff = FrameQueue(stop, maxsize=2)
    image = np.zeros((2, 2, 3), np.uint8)
    for index in range(2):
        handoff.put(Frame(image=image, index=index, t_s=0.0, wall_ts=0.0))
    stop.set()
    handoff.end()  # returns although nobody reads: a waiting frame gave way
    items = [handoff.get(timeout=0.1), handoff.get(timeout=0.1)]
    assert END in items
