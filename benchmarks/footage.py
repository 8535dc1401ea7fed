"""A mostly static camera clip made from real footage (vtest.avi), for gating benchmarks.

A real site camera sees nothing move most of the time. vtest.avi (a campus plaza, people
walking all the time) becomes such a clip:

- *still* periods: the empty plaza (the median of every 8th frame of vtest.avi) with
  sensor noise: per-pixel Gaussian noise and a small random brightness offset per frame,
  as a camera's gain does, so consecutive pictures differ and the frozen-picture check
  never fires, while nothing moves;
- *walks*: 4 s runs of vtest.avi's own frames, people walking through;
- *standing*: one real person cut out of vtest.avi (frame STAND_FRAME, the woman on the
  lawn) stands still on the empty plaza for a minute, inside the ``lawn`` zone, while one
  walk passes by her; she appears at the end of the walk that brings her (her own last
  frame) and is gone when the next walk starts.

At least 70 % of the time nothing moves (``StaticClip.still_share``). Written as H.264
(libx264, no B-frames, a keyframe a second, Debian's ffmpeg) so the RTSP test server can
serve it; as MPEG-4 Part 2 through OpenCV where ffmpeg is missing.

    python benchmarks/footage.py [OUT.mp4] [--seconds 120]

From other scripts: ``make_static_clip(path)`` returns a :class:`StaticClip` (path, fps,
size, timeline, the ``lawn`` zone); ``site_config(clip, source)`` the config dict of the
rules the benchmarks watch it with (a count and a loiter on the lawn, a line across the
walkway); ``busy_clip_config(source)`` the same rules for vtest.avi itself.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.assets import busy_video

FPS = 10.0
WIDTH, HEIGHT = 768, 576
# vtest.avi frame 700: the woman in a dark coat on the lawn, bottom left, alone, ~108 px
# tall, feet near (123, 395).
STAND_FRAME = 700
STAND_FEET = (123, 395)
# Where she stands, as fractions of the frame: the zone the count and loiter rules watch.
LAWN = [[0.05, 0.55], [0.30, 0.55], [0.30, 0.82], [0.05, 0.82]]
# A line across the walkway in the middle of the plaza (people cross it in the walks).
WALKWAY = ([0.55, 0.30], [0.62, 0.75])
NOISE_SIGMA = 2.5  # grey levels per pixel
GAIN_JITTER = 3.0  # grey levels of brightness offset per frame, uniform +-


@dataclass(frozen=True)
class Segment:
    kind: str  # "still", "walk" or "stand" (a walk passing the standing person is "walk+stand")
    start_s: float
    end_s: float
    source_frames: tuple[int, int] | None = None  # vtest.avi frames [a, b) for walks


@dataclass(frozen=True)
class StaticClip:
    """What :func:`make_static_clip` wrote: where, how, and what happens when."""

    path: Path
    fps: float
    width: int
    height: int
    segments: tuple[Segment, ...]
    standing: tuple[float, float]  # seconds the person stands in the lawn zone
    zone: list[list[float]] = field(default_factory=lambda: [list(p) for p in LAWN])

    @property
    def seconds(self) -> float:
        return self.segments[-1].end_s

    @property
    def still_share(self) -> float:
        """Share of the clip's time where nothing moves (still and standing periods)."""
        moving = sum(s.end_s - s.start_s for s in self.segments if "walk" in s.kind)
        return 1.0 - moving / self.seconds


def timeline(seconds: float = 120.0) -> tuple[tuple[Segment, ...], tuple[float, float]]:
    """The clip's plan: walks at fixed places, the standing person from 30 s for 60 s.

    Over 120 s: 4 walks of 4 s (13 % moving), the rest still; shorter clips keep the
    start of the plan, longer ones repeat its last still period.
    """
    walk = 4.0
    plan = [
        Segment("still", 0.0, 10.0),
        Segment("walk", 10.0, 14.0, (100, 140)),
        Segment("still", 14.0, 26.0),
        # The walk that brings her: vtest's frames up to her frame.
        Segment("walk", 26.0, 30.0, (STAND_FRAME - int(walk * FPS) + 1, STAND_FRAME + 1)),
        Segment("stand", 30.0, 55.0),
        Segment("walk+stand", 55.0, 59.0, (300, 340)),
        Segment("stand", 59.0, 90.0),
        Segment("walk", 90.0, 94.0, (500, 540)),
        Segment("still", 94.0, max(seconds, 94.0)),
    ]
    out = [Segment(s.kind, s.start_s, min(s.end_s, seconds), s.source_frames)
           for s in plan if s.start_s < seconds]
    standing = (30.0, min(90.0, seconds))
    return tuple(out), standing


def read_vtest() -> list[np.ndarray]:
    """Every frame of vtest.avi (795 of 768x576 at 10 fps; fetched with apt on first use)."""
    capture = cv2.VideoCapture(str(busy_video()))
    frames = []
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(image)
    finally:
        capture.release()
    if not frames:
        raise RuntimeError("vtest.avi gave no frames")
    return frames


def empty_plaza(frames: list[np.ndarray]) -> np.ndarray:
    """The plaza without people: the per-pixel median of every 8th frame."""
    return np.median(np.stack(frames[::8]), axis=0).astype(np.uint8)


def cut_out_person(frame: np.ndarray, plaza: np.ndarray, feet: tuple[int, int]) -> np.ndarray:
    """A mask (bool, frame-sized) of the one person whose feet are nearest ``feet``: the
    connected part of the frame that differs from the empty plaza there."""
    diff = cv2.absdiff(frame, plaza).max(axis=2)
    moving = (diff > 35).astype(np.uint8) * 255
    moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    moving = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(moving)
    best, best_d = 0, float("inf")
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if area < 500:
            continue
        d = float(np.hypot(x + w / 2 - feet[0], y + h - feet[1]))
        if d < best_d:
            best, best_d = label, d
    if not best:
        raise RuntimeError(f"no person near {feet} in frame {STAND_FRAME} of vtest.avi")
    mask = (labels == best).astype(np.uint8)
    return cv2.dilate(mask, np.ones((5, 5), np.uint8)).astype(bool)


def _with_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, NOISE_SIGMA, image.shape) + rng.uniform(-GAIN_JITTER, GAIN_JITTER)
    return np.clip(image.astype(np.float32) + noise.astype(np.float32), 0, 255).astype(np.uint8)


def clip_frames(seconds: float = 120.0, seed: int = 0):  # type: ignore[no-untyped-def]
    """Yield the clip's frames (BGR, 768x576) in order, at FPS."""
    frames = read_vtest()
    plaza = empty_plaza(frames)
    person = cut_out_person(frames[STAND_FRAME], plaza, STAND_FEET)
    standing_picture = np.where(person[:, :, None], frames[STAND_FRAME], plaza)
    segments, _ = timeline(seconds)
    rng = np.random.default_rng(seed)
    for segment in segments:
        count = int(round((segment.end_s - segment.start_s) * FPS))
        for i in range(count):
            if segment.source_frames is not None:
                image = frames[min(segment.source_frames[0] + i, segment.source_frames[1] - 1)]
                if segment.kind == "walk+stand":
                    image = np.where(person[:, :, None], frames[STAND_FRAME], image)
                # Real frames carry their own sensor noise; a little more keeps it even.
                yield _with_noise(image, rng) if segment.kind != "walk" else image.copy()
            elif segment.kind == "stand":
                yield _with_noise(standing_picture, rng)
            else:
                yield _with_noise(plaza, rng)


def make_static_clip(path: str | Path, seconds: float = 120.0, seed: int = 0) -> StaticClip:
    """Write the mostly static clip to ``path`` (kept when it exists with the same plan
    and seed: the name should say both, e.g. ``static-120s-0.mp4``)."""
    path = Path(path)
    segments, standing = timeline(seconds)
    clip = StaticClip(path, FPS, WIDTH, HEIGHT, segments, standing)
    if path.is_file() and path.stat().st_size > 0:
        return clip
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial" + path.suffix)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        command = [
            ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
            "-s", f"{WIDTH}x{HEIGHT}", "-r", f"{FPS:g}", "-i", "-",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-bf", "0",
            "-g", str(int(FPS)), "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(partial),
        ]
        process = subprocess.Popen(command, stdin=subprocess.PIPE)
        assert process.stdin is not None
        try:
            for image in clip_frames(seconds, seed):
                process.stdin.write(image.tobytes())
        finally:
            process.stdin.close()
            if process.wait() != 0:
                raise RuntimeError(f"ffmpeg failed writing {partial}")
    else:
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
        try:
            for image in clip_frames(seconds, seed):
                writer.write(image)
        finally:
            writer.release()
    partial.replace(path)
    return clip


def _rules(zone_id: str | None) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"id": "walkway-crossing", "type": "line", "line": "walkway", "classes": ["person"],
         "min_frames": 2, "cooldown_s": 0,
         "event": {"type": "inventory_count", "item_type": "person"}},
    ]
    if zone_id is not None:
        rules += [
            {"id": "lawn-occupied", "type": "count", "zone": zone_id, "classes": ["person"],
             "op": ">=", "threshold": 1, "for_s": 2, "clear_s": 3,
             "event": {"type": "inventory_count", "item_type": "person", "location": zone_id}},
            {"id": "lawn-loiter", "type": "loiter", "zone": zone_id, "classes": ["person"],
             "dwell_s": 20, "cooldown_s": 120,
             "event": {"type": "safety_alert", "alert_type": "loitering", "severity": "medium"}},
        ]
    return rules


def site_config(clip: StaticClip, source: str, model: str, camera_id: str = "plaza",
                **extra: Any) -> dict[str, Any]:
    """A camera config (as a dict, for YAML) watching ``source`` showing ``clip``: the
    person model, the lawn zone with a count and a loiter rule, the walkway line.
    ``extra`` adds or replaces top-level sections (``detect``, ``sinks``, ``outbox``...)."""
    config: dict[str, Any] = {
        "device_id": "bench",
        "camera": {"id": camera_id, "source": source},
        "models": [{"id": "people", "kind": "onnx", "path": model,
                    "class_map": {"Normal": "person", "Fall": "person"}, "classes": ["person"],
                    "confidence": 0.5}],
        "zones": [{"id": "lawn", "polygon": clip.zone}],
        "lines": [{"id": "walkway", "start": list(WALKWAY[0]), "end": list(WALKWAY[1])}],
        "rules": _rules("lawn"),
        "monitor": {"enabled": False},
    }
    config.update(extra)
    return config


def busy_clip_config(source: str, model: str, camera_id: str = "vtest", **extra: Any) -> dict[str, Any]:
    """The same rules on vtest.avi itself (people walking all the time)."""
    segments, standing = timeline(1.0)
    clip = StaticClip(Path(source), FPS, WIDTH, HEIGHT, segments, standing)
    return site_config(clip, source, model, camera_id, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, default=Path("static-120s-0.mp4"))
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    clip = make_static_clip(args.out, args.seconds, args.seed)
    print(f"{clip.path}: {clip.seconds:g} s at {clip.fps:g} fps, {clip.width}x{clip.height}, "
          f"nothing moves {clip.still_share:.0%} of the time; a person stands in the lawn zone "
          f"{clip.standing[0]:g}-{clip.standing[1]:g} s")
    for segment in clip.segments:
        print(f"  {segment.start_s:6.1f}-{segment.end_s:6.1f} s  {segment.kind}")


if __name__ == "__main__":
    main()
