"""Real MP4 clips for the clip tests, made with PyAV (libx264, yuv420p) from synthetic
frames: a bright bar that moves, so decoded frames differ and playback visibly advances."""

from __future__ import annotations

import io

import av
import numpy as np


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
