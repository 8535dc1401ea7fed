"""Motion gating, measured: model runs a second and events, gating on against off.

Two clips at 10 fps: the mostly static clip of ``benchmarks/footage.py`` (a person
standing in the lawn zone through a still minute, people walking through now and then)
and vtest.avi (people walking all the time). The same rules on both (footage.site_config):
a count and a loiter on the lawn zone, a line across the walkway.

- gating on: the camera defaults, ``detect: {motion: true, fps: 5, keepalive_s: 1}``;
- gating off: ``detect: {motion: false, fps: 0}``, the model on every frame.

Default (deterministic, independent of the machine's load): the person model runs once
on every frame of each clip, frame by frame, and its detections are kept (cached under
~/.cache/streamer/bench/). Both runs then go through the real pipeline (motion check,
gate, ByteTrack, rules) with a detector that answers each frame with the model's own
detections of that frame, so a gated run's model runs are exactly the frames it would
run the model on, at 10 frames a second of video. Printed per clip: frames, model runs,
runs per second of video, and the events of each run matched to the other's: same rule,
within 1 s, and for events about a track the same person (the events' boxes overlap,
IoU >= 0.3; track ids differ between runs).

``--paced`` also runs each clip as a live 10 fps camera (``realtime: true``, frames
dropped while the model is busy) with the real model, gating on and off side by side:
the runs a second this machine gives, under whatever load it carries.

    nice python benchmarks/motion_gating.py [--vtest-seconds 79.5] [--paced]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import supervision as sv
import yaml
from publish import add_flag, markdown_table, run, summary

sys.path.insert(0, str(Path(__file__).resolve().parent))

from footage import busy_clip_config, make_static_clip, site_config  # noqa: E402

from streamer.assets import busy_video, person_model  # noqa: E402
from streamer.config import parse_config  # noqa: E402
from streamer.detect.base import NO_CAMERA, Detector, DetectorContext, filter_classes  # noqa: E402
from streamer.detect.replay import read_replay_file, replay_detections  # noqa: E402
from streamer.pipeline import RunOptions, build_pipeline  # noqa: E402
from streamer.plugins import PLUGINS  # noqa: E402
from streamer.schema.bases import ModelBase  # noqa: E402
from streamer.source.frame import Frame  # noqa: E402

CACHE = Path.home() / ".cache" / "streamer" / "bench"


class RecordedModelConfig(ModelBase):
    """``kind: recorded``: the model's detections of each frame, recorded once. Unlike
    ``replay`` it is gated like a real model: the frames it is asked about are the
    frames a gated run would run the model on."""

    kind: Literal["recorded"]
    path: Path

    def build(self, context: DetectorContext = NO_CAMERA) -> RecordedDetector:
        return RecordedDetector(self)

    def output_classes(self) -> set[str] | None:
        return {"person"}


class RecordedDetector(Detector):
    def __init__(self, config: RecordedModelConfig) -> None:
        self.model_id = config.id
        self._config = config
        self._rows = read_replay_file(config.path, f"model {config.id!r}")

    def detect(self, frame: Frame) -> sv.Detections:
        dets = replay_detections(self._rows.get(frame.index, []), self.model_id)
        return filter_classes(dets, {}, None, self._config.confidence)


PLUGINS_WITH_RECORDED = PLUGINS.adding(models=(RecordedModelConfig,))


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
    """The real model on a paced file for ``seconds`` of wall time."""
    config = parse_config(yaml.safe_dump(config_dict), source_name=f"{label}.yaml", env={})
    result = Result(label)
    options = RunOptions(duration_s=seconds, monitor=False, deliver=False, progress_s=3600,
                         on_step=_collect(result), drain_s=0)
    pipeline = build_pipeline(config, options, report=lambda line: None)
    started = time.monotonic()
    summary = pipeline.run()
    result.seconds = time.monotonic() - started
    result.frames = summary.frames
    _read_status(pipeline, result)
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
    rows = []
    for result, other in ((on, off), (off, on)):
        rate = result.runs / result.seconds if result.seconds else 0.0
        share = result.runs / result.frames if result.frames else 0.0
        kept = matched(result.events, other.events)
        rows.append((result.label, result.frames, result.runs, f"{rate:.2f}", f"{share:.0%}",
                     len(result.events), kept))
        print(f"  {result.label:12} {result.frames:7d} {result.runs:10d} {rate:7.2f} {share:9.0%} "
              f"{len(result.events):7d} {kept:8d}")
    summary(f"**{name}**\n\n" + markdown_table(
        ("", "frames", "model runs", "runs/s", "of frames", "events", "matched"), rows))
    if on.runs_for:
        print(f"  gating on ran the model for: {on.runs_for}")
    print(f"  model runs, on/off: {on.runs / max(off.runs, 1):.2f}")
    by_rule = sorted({e.rule_id for e in on.events + off.events})
    for rule in by_rule:
        times_on = [round(e.t_s, 1) for e in on.events if e.rule_id == rule]
        times_off = [round(e.t_s, 1) for e in off.events if e.rule_id == rule]
        print(f"    {rule:18} on {times_on}\n    {'':18} off {times_off}")


def record(name: str, config: dict[str, Any], frames: int) -> Path:
    """Every frame's detections by the real model, frame by frame (cached)."""
    path = CACHE / f"{name}-{frames}-detections.jsonl"
    if path.is_file() and path.stat().st_size > 0:
        return path
    partial = path.with_suffix(".partial")
    parsed = parse_config(yaml.safe_dump({**config, "detect": {"motion": False, "fps": 0}}),
                          source_name=f"{name}.yaml", env={})
    started = time.monotonic()
    options = RunOptions(max_frames=frames, monitor=False, deliver=False, progress_s=3600,
                         record_detections=partial, drain_s=0)
    build_pipeline(parsed, options, report=lambda line: None).run()
    partial.replace(path)
    print(f"  recorded {frames} frames of {name} in {time.monotonic() - started:.0f} s")
    return path


def replayed(label: str, config: dict[str, Any], detections: Path, frames: int,
             detect: dict[str, Any]) -> Result:
    model = {"id": "people", "kind": "recorded", "path": str(detections), "confidence": 0.5}
    parsed = parse_config(yaml.safe_dump({**config, "models": [model], "detect": detect}),
                          source_name=f"{label}.yaml", env={}, plugins=PLUGINS_WITH_RECORDED)
    result = Result(label)
    options = RunOptions(max_frames=frames, monitor=False, deliver=False, progress_s=3600,
                         on_step=_collect(result), drain_s=0)
    pipeline = build_pipeline(parsed, options, report=lambda line: None)
    summary = pipeline.run()
    result.seconds = summary.frames / 10.0  # seconds of video
    result.frames = summary.frames
    _read_status(pipeline, result)
    return result


def _collect(result: Result) -> Any:
    def on_step(frame: Any, fired: list[Any], _s: float) -> None:
        for event in fired:
            dets: sv.Detections = event.detections
            box = np.asarray(dets.xyxy[0], dtype=float) if len(dets) and event.track_id is not None else None
            result.events.append(Event(event.rule_id, float(event.t_s), event.track_id, box))
    return on_step


def _read_status(pipeline: Any, result: Result) -> None:
    status = pipeline.step.status()
    result.runs = int(status["models"][0]["runs_total"])
    detect = status["detect"]
    result.runs_for = dict(detect.get("runs_for", {})) if isinstance(detect, dict) else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vtest-seconds", type=float, default=79.5,
                        help="seconds of vtest.avi (79.5 in all) to record and compare")
    parser.add_argument("--static-seconds", type=float, default=120.0)
    parser.add_argument("--paced", action="store_true",
                        help="also as a live 10 fps camera with the real model, on and off")
    parser.add_argument("--only", choices=("static", "vtest"), default=None)
    add_flag(parser)
    args = parser.parse_args()
    model = str(person_model())
    clip = make_static_clip(CACHE / "static-120s-0.mp4")
    vtest = str(busy_video())
    print(f"static clip: {clip.path} ({clip.seconds:g} s, nothing moves {clip.still_share:.0%} of the "
          f"time, a person stands in the lawn zone {clip.standing[0]:g}-{clip.standing[1]:g} s)")
    print(f"busy clip: {vtest} (79.5 s, people walking all the time)")
    clips = [
        ("static", site_config(clip, str(clip.path), model), min(args.static_seconds, clip.seconds)),
        ("vtest", busy_clip_config(vtest, model), min(args.vtest_seconds, 79.5)),
    ]
    gated = {"fps": 5, "keepalive_s": 1, "motion": True}
    every = {"fps": 0, "motion": False}
    for name, config, seconds in clips:
        if args.only and name != args.only:
            continue
        frames = int(round(seconds * 10))
        detections = record(name, config, frames)
        on = replayed("gating on", config, detections, frames, gated)
        off = replayed("gating off", config, detections, frames, every)
        report(f"{name}: {frames} frames at 10 fps, the model's own detections of each frame", on, off)
        if args.paced:
            on = run_once("gating on", _paced({**config, "detect": gated}), seconds + 0.5)
            off = run_once("gating off", _paced({**config, "detect": every}), seconds + 0.5)
            report(f"{name}: paced as a live 10 fps camera on this machine, {seconds:g} s", on, off)


def _paced(config: dict[str, Any]) -> dict[str, Any]:
    camera = dict(config["camera"])
    camera["realtime"] = True
    return {**config, "camera": camera}


if __name__ == "__main__":
    raise SystemExit(run(main, "motion-gating", "Motion gating: model runs and events, on against off"))
