"""Clips on every rule against clips off: frame-loop fps side by side, and the buffer's memory.

The demo's pipeline (person model, zone rules, JSONL sink) runs on a 1080p 10 fps H.264
version of the sample video, made once with PyAV from bikes.mp4 and cached. After a
warm-up of each, passes run in pairs (off then on, then on then off, ...) so drift on a
shared machine hits both alike; the median of the pairs' ratios is the figure.
Target: fps(on) / fps(off) >= 0.98.

The memory figure is what the recorder holds for the pre-event picture at 1080p 10 fps:
the camera's own packets for 5 s (the default, copied clips), and for comparison the
decoded frames the same 5 s would take (annotated clips, USB and HTTP cameras).

    python benchmarks/clips.py [--frames 150] [--repeats 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import av
import cv2
from publish import add_flag, run

from streamer.assets import sample_video
from streamer.cache import cache_root
from streamer.clips.recorder import LEAD_S
from streamer.clips.ring import PacketRing
from streamer.config.models import Config
from streamer.demo import demo_config
from streamer.pipeline import RunOptions, build_pipeline
from streamer.schema.rule_parts import ClipSettings
from streamer.schema.sections import CameraConfig, ClipsConfig
from streamer.source import FileSource
from streamer.source.packets import StreamPacket

FPS = 10
SIZE = (1920, 1080)


def video_1080p() -> Path:
    """bikes.mp4 scaled to 1080p at 10 fps (25 s), H.264 with a keyframe every 2 s."""
    target = cache_root() / "bikes-1080p10.mp4"
    if target.exists():
        return target
    partial = target.with_suffix(".part.mp4")
    capture = cv2.VideoCapture(str(sample_video()))
    with av.open(str(partial), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23", "g": str(2 * FPS)})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        while True:
            ok, image = capture.read()
            if not ok:
                break
            picture = av.VideoFrame.from_ndarray(cv2.resize(image, SIZE), format="bgr24")
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    partial.rename(target)
    return target


def run_fps(config: Config, frames: int) -> tuple[float, int, dict[str, object]]:
    pipeline = build_pipeline(
        config, RunOptions(max_frames=frames, drain_s=2.0, progress_s=3600), report=lambda line: None
    )
    summary = pipeline.run()
    clips = pipeline.clips.status()["clips"] if pipeline.clips is not None else {}
    return summary.fps, summary.events_accepted, clips  # type: ignore[return-value]


def buffer_figures(video: Path, seconds: float) -> tuple[float, float, int]:
    """MB of packets in the fullest ``seconds`` window of the video, and in the ring as
    the recorder keeps it (``seconds`` plus its lead and a GOP); packets in the window."""
    packets: list[StreamPacket] = []
    ring = PacketRing(seconds + LEAD_S, 1 << 40)
    held = 0

    def keep(packet: StreamPacket) -> None:
        nonlocal held
        packets.append(packet)
        ring.add(packet)
        held = max(held, ring.nbytes)

    stop = threading.Event()
    source = FileSource(CameraConfig(source=str(video)), stop, on_packet=keep)
    source.start()
    while True:
        try:
            source.read(1.0)
        except EOFError:
            break
    best, count = 0, 0
    for i, first in enumerate(packets):
        window = [p for p in packets[i:] if (p.pts_s or 0) - (first.pts_s or 0) < seconds]
        size = sum(p.size for p in window)
        if size > best:
            best, count = size, len(window)
    return best / 2**20, held / 2**20, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150, help="frames per pass (the video has 250)")
    parser.add_argument("--repeats", type=int, default=6, help="pairs of passes after the warm-up")
    add_flag(parser)
    args = parser.parse_args()

    video = video_1080p()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"video {video.name} ({SIZE[0]}x{SIZE[1]}, {FPS} fps), {args.frames} frames a pass")
    runs: dict[str, list[float]] = {"off": [], "on": []}
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        # One warm-up pass of each (model load, file cache), then pairs in alternating
        # order (off-on, on-off, ...) so drift on a shared machine cancels within a pair.
        for attempt in range(args.repeats + 1):
            order = ("off", "on") if attempt % 2 == 0 else ("on", "off")
            pair: dict[str, float] = {}
            for kind in order:
                config = demo_config(Path(tmp) / f"{kind}{attempt}", report=lambda line: None, clips=False)
                camera = config.camera.model_copy(update={"source": str(video), "loop": False})
                clips = ClipsConfig(default=ClipSettings(pre_s=5, post_s=5) if kind == "on" else None)
                config = config.model_copy(update={"camera": camera, "clips": clips})
                fps, events, status = run_fps(config, args.frames)
                pair[kind] = fps
                extra = f", clips written {status.get('written_total')}" if status else ""
                label = "warm-up" if attempt == 0 else f"pass {attempt}"
                print(f"{label} clips {kind:>3}: {fps:.2f} fps ({events} events{extra})")
            if attempt:
                for kind, fps in pair.items():
                    runs[kind].append(fps)
                ratios.append(pair["on"] / pair["off"])
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    ratio = statistics.median(ratios)
    print(f"fps clips off (median): {off:.2f}")
    print(f"fps clips on all rules (median): {on:.2f}")
    print(f"ratio on / off, median of the {len(ratios)} pairs: {ratio:.3f} "
          f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)}; target >= 0.98: "
          f"{'met' if ratio >= 0.98 else 'NOT met'})")

    window_mb, ring_mb, count = buffer_figures(video, 5.0)
    frame_mb = SIZE[0] * SIZE[1] * 3 / 2**20
    print(f"buffer at 1080p {FPS} fps for 5 s: packets {window_mb:.2f} MB ({count} packets); "
          f"the ring as kept (5 s + 2 s lead + a GOP) peaked at {ring_mb:.2f} MB")
    print(f"the same 5 s as decoded frames: {5 * FPS} x {frame_mb:.1f} MB = {5 * FPS * frame_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main, "clips", "Clips on every rule against clips off"))
