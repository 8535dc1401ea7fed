"""``streamer replay``: the rules over recorded detections, as fast as the CPU allows.

How a user tunes ``min_frames``, ``for_s`` and zones without re-running a model: the
same tracker and rules as ``streamer run``, fed from a replay JSONL file. Frame time is
``frame / fps``; wall time (read only by schedules) is ``start + frame time``, so a fixed
``--start-time`` gives the same events on every run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.config.models import Config
from streamer.detect.replay import read_replay_file, replay_detections
from streamer.errors import StreamerError
from streamer.rules import RuleEvent, build_rules
from streamer.track import Tracker


@dataclass(frozen=True)
class ReplayedEvent:
    """One event the rules fired, with the frame it fired on."""

    frame: int
    wall_ts: float
    event: RuleEvent


def probe_video(path: Path) -> tuple[int, int, float] | None:
    """(width, height, fps) of a readable video file, else None."""
    if not Path(path).is_file():
        return None
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return None
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    if width <= 0 or height <= 0:
        return None
    return width, height, fps


def frame_geometry(
    config: Config,
    video: Path | None,
    size: tuple[int, int] | None,
    fps: float | None,
) -> tuple[int, int, float]:
    """Frame size and fps: flags first, then the video, then the config's camera file."""
    probed = None
    if video is not None:
        probed = probe_video(video)
        if probed is None:
            raise StreamerError(f"--video: cannot read a video from {video}")
    elif isinstance(config.camera.source, str):
        probed = probe_video(Path(config.camera.source))
    width, height = size if size else (probed[:2] if probed else (0, 0))
    if not width:
        raise StreamerError(
            "replay needs the frame size: pass --size WxH or --video FILE "
            f"(the camera source {config.camera.source!r} is not a readable file)"
        )
    rate = fps or (probed[2] if probed and probed[2] > 0 else None) or config.camera.fps
    if not rate:
        raise StreamerError("replay needs the frame rate: pass --fps N or --video FILE")
    return int(width), int(height), float(rate)


def replay(
    config: Config,
    detections: Path,
    width: int,
    height: int,
    fps: float,
    start_wall_ts: float,
) -> Iterator[ReplayedEvent]:
    """Run tracker and rules over every frame from 0 to the file's last; yield events."""
    frames = read_replay_file(detections, f"--detections {detections}")
    tracker = Tracker(config.tracker, fps)
    rules = build_rules(config, width, height)
    last = max(frames) if frames else -1
    for index in range(last + 1):
        dets = replay_detections(frames.get(index, []), "replay")
        t_s = index / fps
        wall_ts = start_wall_ts + t_s
        tracked = tracker.update(t_s, dets)
        for rule in rules:
            for event in rule.update(t_s, tracked, wall_ts):
                yield ReplayedEvent(index, wall_ts, event)


def event_row(item: ReplayedEvent) -> tuple[str, str, str, str]:
    """(time, rule, object, reason) as printed by ``streamer replay``."""
    event = item.event
    if event.track_id is not None:
        what = f"{event.class_name or 'object'} #{event.track_id}"
    else:
        what = f"{event.count} {event.class_name or 'object'}"
    return (f"{event.t_s:.2f}", event.rule_id, what, event.reason)


def format_table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    header = ("time_s", "rule", "object", "reason")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    out = []
    for row in [header, *rows]:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return out


def send_events(
    config: Config,
    items: list[ReplayedEvent],
    width: int,
    height: int,
    video: Path | None,
    drain_s: float = 30.0,
) -> dict[str, int]:
    """Hand replayed events to the configured sinks through the outbox, like ``run``.

    Snapshots come from ``--video`` frames when given, else a blank frame of the size.
    Returns deliveries per sink.
    """
    from streamer.events.outbox import Outbox
    from streamer.events.sender import Sender
    from streamer.events.writer import EventWriter
    from streamer.overlay import Overlay
    from streamer.runtime import Runtime
    from streamer.source.frame import Frame

    runtime = Runtime(config)
    outbox = Outbox(config.outbox.path)
    sinks = runtime._build_sinks()
    senders = [Sender(sink, outbox) for sink in sinks]
    overlay = Overlay(config, width, height)
    writer = EventWriter(
        outbox,
        [sink.name for sink in sinks],
        device_id=config.device_id,
        stream_id=config.camera.id,
        render_snapshot=overlay.draw_event,
        queue_size=max(len(items), 1) + 1,
        on_accepted=lambda: [sender.wake() for sender in senders],
    )
    try:
        for sender in senders:
            sender.start()
        writer.start()
        images = _frames(video, {item.frame for item in items}, width, height)
        for item in items:
            image = images.get(item.frame)
            if image is None:
                image = np.zeros((height, width, 3), dtype=np.uint8)
            writer.submit(item.event, Frame(image, item.frame, item.event.t_s, item.wall_ts))
        writer.stop()
        names = [sink.name for sink in sinks]
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and outbox.pending_total(names) > 0:
            time.sleep(0.05)
    finally:
        runtime._senders = senders
        runtime._close_senders()
        outbox.close()
    return {sender.sink.name: sender.delivered_total for sender in senders}


def _frames(video: Path | None, wanted: set[int], width: int, height: int) -> dict[int, np.ndarray]:
    if video is None or not wanted:
        return {}
    out: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(str(video))
    try:
        index = 0
        last = max(wanted)
        while index <= last:
            ok, image = capture.read()
            if not ok:
                break
            if index in wanted:
                out[index] = cv2.resize(image, (width, height)) if image.shape[1] != width else image
            index += 1
    finally:
        capture.release()
    return out
