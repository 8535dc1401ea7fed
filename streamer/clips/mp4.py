"""Turn kept packets or frames into an MP4 a browser plays (H.264, moov first).

The MP4 is written to a temporary file, not to memory: ``+faststart`` moves the index to
the front in a second pass over the file, which FFmpeg cannot do on an in-memory buffer;
a clip whose index comes first starts playing before it has all arrived.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import supervision as sv

from streamer.clips.ring import Noted
from streamer.source import Frame
from streamer.source.packets import StreamPacket

MOV_FLAGS = {"movflags": "+faststart"}
# Encoding settings for clips made from frames: fast enough for 1080p on one core, and
# CRF 26 keeps a 10 s 1080p clip around a few MB.
X264_OPTIONS = {"preset": "veryfast", "crf": "26"}
MS = Fraction(1, 1000)

Draw = Callable[[Frame, sv.Detections], np.ndarray]


def _mp4(fill: Callable[[Any], None]) -> bytes:
    """The bytes of an MP4 that ``fill`` muxes into the open output container."""
    with tempfile.TemporaryDirectory(prefix="streamer-clip-") as folder:
        path = Path(folder) / "clip.mp4"
        with av.open(str(path), "w", format="mp4", options=MOV_FLAGS) as out:
            fill(out)
        return path.read_bytes()


def copy_packets(packets: Sequence[StreamPacket]) -> bytes:
    """The camera's own packets in an MP4, times rebased to the first; no re-encode."""
    first = packets[0]
    base = first.packet.dts if first.packet.dts is not None else first.packet.pts or 0

    def fill(out: Any) -> None:
        stream = out.add_stream_from_template(first.template)
        for item in packets:
            source = item.packet
            # A new packet per clip: two clips may share the ring's packets, and
            # muxing rewrites a packet's times in place.
            packet = av.Packet(bytes(source))
            packet.time_base = source.time_base
            packet.pts = None if source.pts is None else source.pts - base
            packet.dts = None if source.dts is None else source.dts - base
            packet.is_keyframe = item.keyframe
            packet.stream = stream
            out.mux(packet)

    return _mp4(fill)


def encode_frames(frames: Sequence[Noted], draw: Draw | None, fps: float) -> bytes:
    """Frames (drawn on when ``draw`` is given) encoded as H.264 at their own times."""
    first = frames[0].frame
    width, height = first.width - first.width % 2, first.height - first.height % 2

    def fill(out: Any) -> None:
        stream = out.add_stream("libx264", rate=max(1, round(fps)), options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = MS
        last_pts = -1
        for noted in frames:
            image = draw(noted.frame, noted.detections) if draw else noted.frame.image
            picture = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image[:height, :width]), format="bgr24"
            )
            # Frame times, not a fixed rate: the loop may have run slower than the camera.
            pts = max(round((noted.frame.t_s - first.t_s) * 1000), last_pts + 1)
            picture.pts, picture.time_base, last_pts = pts, MS, pts
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))

    return _mp4(fill)

