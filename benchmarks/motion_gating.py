"""Motion gating, measured: model runs a second and events, gating on against off.

One camera paced as a live 10 fps camera (a file with ``realtime: true``, frames dropped
while the model is busy, as from RTSP), on two clips: the mostly static clip of
``benchmarks/footage.py`` (a person standing in a zone through a still minute, people
walking through now and then) and vtest.avi itself (people walking all the time). The
same rules on both (footage.site_config): a count and a loiter on the lawn, a line across
the walkway. Each clip runs twice, side by side in this one run:

- gating on: the camera defaults (``detect.motion``, at most ``detect.fps`` 5 a second,
  a keep-alive every second while someone is tracked);
- gating off: ``detect: {motion: false, fps: 0}``, the model on every frame it keeps up with.

Printed per clip: frames processed, model runs and runs a second, and the events of each
run matched to the other's (same rule, within 1 s, and for events about a track the same
person: the event's boxes overlap, IoU >= 0.3, since track ids differ between runs).
``--analysis`` also runs each clip frame by frame (no pacing, every frame, deterministic)
with and without gating: the events there depend on the gating alone, not on the load.

    nice python benchmarks/motion_gating.py [--seconds 60] [--analysis]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from footage import busy_clip_config, make_static_clip, site_config  # noqa: E402

from streamer.assets import busy_video, person_model  # noqa: E402
from streamer.config import parse_config  # noqa: E402
from streamer.pipeline import RunOptions, build_pipeline  # noqa: E402

CACHE = Path.home() / ".cache" / "streamer" / "bench"


@dataclass
class Event:
    rule_id: str
    t_s: float
    track_id: int | None
    box: np.ndarray | None


@dataclass
class Result:
    label: str
    frames: int = 0
    runs: int = 0
    seconds: float = 0.0
    events: list[Event] = field(default_factory=list)
    runs_for: dict[str, int] = field(default_factory=dict)


def run_once(label: str, config_dict: dict[str, Any], seconds: float) -> Result:
    config = parse_config(yaml.safe_dump(config_dict), source_name=f"{label}.yaml", env={})
    result = Result(label)

    def on_step(frame: Any, fired: list[Any], _s: float) -> None:
        for event in fired:
            dets: sv.Detections = event.detections
            box = np.asarray(dets.xyxy[0], dtype=float) if len(dets) and event.track_id is not None else None
            result.events.append(Event(event.rule_id, float(event.t_s), event.track_id, box))

    options = RunOptions(duration_s=seconds, monitor=False, deliver=False, progress_s=3600,
                         on_step=on_step, drain_s=0)
    pipeline = build_pipeline(config, options, report=lambda line: None)
    started = time.monotonic()
    summary = pipeline.run()
    result.seconds = time.monotonic() - started
    result.frames = summary.frames
    status = pipeline.step.status()
    result.runs = int(status["models"][0]["runs_total"])  # type: ignore[index]
    detect = status["detect"]
    result.runs_for = dict(detect.get("runs_for", {})) if isinstance(detect, dict) else {}  # type: ignore[arg-type]
    return result


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def matched(ours: list[Event], theirs: list[Event]) -> int:
    """Events of ``ours`` with a partner in ``theirs``: same rule, within 1 s, and for
    track events overlapping boxes; each partner used once."""
    used: set[int] = set()
    count = 0
    for event in ours:
        for k, other in enumerate(theirs):
            if k in used or other.rule_id != event.rule_id or abs(other.t_s - event.t_s) > 1.0:
                continue
            if event.box is not None and other.box is not None and iou(event.box, other.box) < 0.3:
                continue
            used.add(k)
            count += 1
            break
    return count


def report(name: str, on: Result, off: Result) -> None:
    print(f"\n{name}")
    print(f"  {'':12} {'frames':>7} {'model runs':>10} {'runs/s':>7} {'of frames':>9} {'events':>7} {'matched':>8}")
    for result, other in ((on, off), (off, on)):
        rate = result.runs / result.seconds if result.seconds else 0.0
        share = result.runs / result.frames if result.frames else 0.0
        print(f"  {result.label:12} {result.frames:7d} {result.runs:10d} {rate:7.2f} {share:9.0%} "
              f"{len(result.events):7d} {matched(result.events, other.events):8d}")
    if on.runs_for:
        print(f"  gating on ran the model for: {on.runs_for}")
    print(f"  model runs, on/off: {on.runs / max(off.runs, 1):.2f}")
    by_rule = sorted({e.rule_id for e in on.events + off.events})
    for rule in by_rule:
        times_on = [round(e.t_s, 1) for e in on.events if e.rule_id == rule]
        times_off = [round(e.t_s, 1) for e in off.events if e.rule_id == rule]
        print(f"    {rule:18} on {times_on}\n    {'':18} off {times_off}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None,
                        help="run each clip this long (default: the whole clip, 120 s and 79.5 s)")
    parser.add_argument("--analysis", action="store_true",
                        help="also frame by frame, every frame, with and without gating")
    parser.add_argument("--only", choices=("static", "vtest"), default=None)
    args = parser.parse_args()
    model = str(person_model())
    clip = make_static_clip(CACHE / "static-120s-0.mp4")
    vtest = str(busy_video())
    print(f"static clip: {clip.path} ({clip.seconds:g} s, nothing moves {clip.still_share:.0%} of the "
          f"time, a person stands in the lawn zone {clip.standing[0]:g}-{clip.standing[1]:g} s)")
    print(f"busy clip: {vtest} (79.5 s, people walking all the time)")
    clips = [("static", lambda **extra: site_config(clip, str(clip.path), model, **extra), clip.seconds),
             ("vtest", lambda **extra: busy_clip_config(vtest, model, **extra), 79.5)]
    gated = {"fps": 5, "keepalive_s": 1, "motion": True}
    every = {"fps": 0, "motion": False}
    for name, make, length in clips:
        if args.only and name != args.only:
            continue
        seconds = min(args.seconds or length, length)
        paced = lambda detect: make(detect=detect)  # noqa: E731
        on = run_once("gating on", _paced(paced(gated)), seconds + 0.5)
        off = run_once("gating off", _paced(paced(every)), seconds + 0.5)
        report(f"{name}, paced as a live 10 fps camera, {seconds:g} s", on, off)
        if args.analysis:
            frames = int(seconds * 10)
            on = _analysis(paced(gated), frames, "gating on")
            off = _analysis(paced(every), frames, "gating off")
            report(f"{name}, frame by frame ({frames} frames, no pacing)", on, off)


def _paced(config: dict[str, Any]) -> dict[str, Any]:
    camera = dict(config["camera"])
    camera["realtime"] = True
    return {**config, "camera": camera}


def _analysis(config: dict[str, Any], frames: int, label: str) -> Result:
    parsed = parse_config(yaml.safe_dump(config), source_name=f"{label}.yaml", env={})
    result = Result(label)

    def on_step(frame: Any, fired: list[Any], _s: float) -> None:
        for event in fired:
            dets = event.detections
            box = np.asarray(dets.xyxy[0], dtype=float) if len(dets) and event.track_id is not None else None
            result.events.append(Event(event.rule_id, float(event.t_s), event.track_id, box))

    options = RunOptions(max_frames=frames, monitor=False, deliver=False, progress_s=3600,
                         on_step=on_step, drain_s=0)
    pipeline = build_pipeline(parsed, options, report=lambda line: None)
    started = time.monotonic()
    summary = pipeline.run()
    result.seconds = frames / 10.0  # runs a second of video time, not of this machine's
    _ = time.monotonic() - started
    result.frames = summary.frames
    status = pipeline.step.status()
    result.runs = int(status["models"][0]["runs_total"])  # type: ignore[index]
    detect = status["detect"]
    result.runs_for = dict(detect.get("runs_for", {})) if isinstance(detect, dict) else {}  # type: ignore[arg-type]
    return result


if __name__ == "__main__":
    main()
