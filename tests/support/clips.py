"""Real MP4 clips for the clip tests: made with PyAV (libx264, yuv420p) from synthetic
frames (a bright bar that moves, so decoded frames differ and playback visibly advances),
or recorded by the real clip recorder from a real video (``record``)."""

from __future__ import annotations

import io
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import supervision as sv

from streamer.clips import ClipRecorder
from streamer.events.clips import ClipPlan
from streamer.schema.sections import CameraConfig
from streamer.source import Frame, open_source


def make_mp4(seconds: float = 1.0, fps: int = 10, width: int = 160, height: int = 120,
             noise: bool = False) -> bytes:
    """An H.264 MP4 of ``seconds`` at ``fps``, as the clip recorder would attach it;
    ``noise`` makes frames that do not compress (a clip of real size for quota tests)."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(max(1, round(seconds * fps))):
            image = (rng.integers(0, 255, (height, width, 3), dtype=np.uint8) if noise
                     else np.zeros((height, width, 3), np.uint8))
            left = (i * 7) % max(1, width - 16)
            image[:, left:left + 16] = (255, 200, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def decoded_frames(data: bytes) -> tuple[int, int, int]:
    """``(frames, width, height)`` of an MP4, decoded: the clip is a real, playable one."""
    with av.open(io.BytesIO(data)) as container:
        frames = [frame for frame in container.decode(video=0)]
    assert frames, "the MP4 holds no decodable frame"
    return len(frames), frames[0].width, frames[0].height


Clips = dict[str, tuple[bytes | None, dict[str, Any], Frame]]


def record(video: Path | str, events: dict[int, ClipPlan], buffer_mb: float = 64,
           annotated_draw: Any = None, stop_at: int | None = None, **camera: Any) -> Clips:
    """Play the frame loop over ``video`` (a file or a camera's URL): an event fires on
    each frame index in ``events``; a camera's run stops at ``stop_at``."""
    clips: dict[str, tuple[bytes | None, dict[str, Any]]] = {}
    draw = annotated_draw or (lambda frame, dets: frame.image.copy())
    recorder = ClipRecorder(buffer_mb, max(p.pre_s for p in events.values()),
                            lambda event_id, mp4, meta: clips.__setitem__(event_id, (mp4, meta)), draw)
    recorder.want_frames = any(p.annotated for p in events.values())
    recorder.start()
    stop = threading.Event()
    source = open_source(CameraConfig(source=str(video), **camera), stop, on_packet=recorder.on_packet)
    source.start()
    fired: dict[str, Frame] = {}
    while True:
        try:
            frame = source.read(5.0)
        except EOFError:
            break
        assert frame is not None, f"no frame from {source.name} in 5 s: {source.health()}"
        recorder.note(frame, sv.Detections.empty())
        if frame.index in events:
            event_id = f"event-{frame.index}"
            recorder.begin(event_id, events[frame.index], frame)
            fired[event_id] = frame
        if stop_at is not None and frame.index >= stop_at:
            stop.set()
            break
    recorder.stop()
    source.join()
    return {event_id: (*clips[event_id], frame) for event_id, frame in fired.items()}


def video_frames(path: Path | str) -> list[np.ndarray]:
    """Every frame of a video as OpenCV reads it, in order (seeking is approximate)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


def decode(mp4: bytes) -> list[np.ndarray]:
    """A clip's frames, decoded by OpenCV as a player would."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(mp4)
        handle.flush()
        return video_frames(handle.name)


def plan(pre_s: float = 2.0, post_s: float = 2.0, annotated: bool = False) -> ClipPlan:
    return ClipPlan(pre_s, post_s, annotated, due_ts=time.time() + 60)
