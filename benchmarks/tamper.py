"""Tamper checks (issue 27): time to detect each alteration and what was estimated, and the
frame loop's fps with the checks on against off, side by side.

Part 1: real footage (vtest.avi; the demo video's street shot as a still camera) altered
with OpenCV at a known time (10 s): shifted 5 % and 10 %, a third then all of it covered,
Gaussian blur, near black; and the cases that must stay quiet (unaltered, people walking
close to the lens, a 2 s full occlusion, a light off for 2 s). The view watch checks one
picture every ``tamper.every_s`` of frame time, as it does on a camera; the detection time
is frame time from the alteration to the state, so it does not depend on this machine.

Part 2: ``build_pipeline`` on a clip of vtest.avi with the checks on and off, interleaved
(A B A B ...) so drift on a shared machine hits both alike; medians compared. Target:
on/off >= 0.98. With ``--detector replay`` (no model: the frame loop at its fastest, the
worst case for the checks' share) and ``--detector onnx`` (the person model, as a camera
runs it).

    python benchmarks/tamper.py [--repeats 3] [--frames 300] [--detector replay|onnx|both]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml
from publish import add_flag, markdown_table, run, summary

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.tamper_footage import (  # noqa: E402
    blurred,
    covered,
    darkened,
    demo_still,
    play,
    shifted,
    vtest,
    walkers_close,
    write_clip,
)

from streamer.assets import person_model  # noqa: E402
from streamer.config import load_config  # noqa: E402
from streamer.health_state import HealthState  # noqa: E402
from streamer.pipeline import RunOptions, build_pipeline  # noqa: E402
from streamer.schema.sections import TamperConfig  # noqa: E402
from streamer.source.frame import Frame  # noqa: E402
from streamer.source.view import ReferenceStore, ViewWatch, reference_path  # noqa: E402

AT_S = 10.0
SETTINGS = TamperConfig()


def detect(footage: Any, alter: Any, seconds: float, until_s: float | None, folder: Path,
           then: Any = None) -> tuple[list[tuple[float, str, dict[str, Any]]], dict[str, Any], float]:
    """Sample ``footage`` as the watch does; the state changes, the last figures, ms per check."""
    verdicts: list[tuple[float, str, dict[str, Any]]] = []
    clock = {"t": 0.0}

    def record(state: HealthState | None, reason: str, figures: Any) -> None:
        verdicts.append((clock["t"], str(state) if state else "live", dict(figures)))

    store = ReferenceStore(reference_path(folder / "outbox.db", "cam"))
    watch = ViewWatch(SETTINGS, store, "cam", {"zones": {}, "lines": {}}, record, threading.Event())
    frames = list(play(footage, seconds, alter, AT_S, until_s, every_s=SETTINGS.every_s))
    if then is not None:  # a second alteration after the first (a third, then all covered)
        frames += [(t + seconds + SETTINGS.every_s, p)
                   for t, p in play(footage, seconds, then, 0.0, every_s=SETTINGS.every_s)]
    for t, picture in frames:
        clock["t"] = t
        watch.check(Frame(image=picture, index=int(t * 10), t_s=t, wall_ts=1.7e9 + t))
    status = watch.status()
    return verdicts, status["figures"], status["check_ms"] or 0.0


def part_one(folder: Path) -> None:
    cases = [
        ("shifted 5 %", shifted(0.05), None, None, "moved", "shift_px", 0.05),
        ("shifted 10 %", shifted(0.10), None, None, "moved", "shift_px", 0.10),
        ("a third covered", covered(1 / 3), None, None, None, "covered", None),
        ("a third, then all covered", covered(1 / 3), None, covered(1.0), "obstructed", "covered", None),
        ("Gaussian blur (sigma 4)", blurred(4.0), None, None, "blurred", "sharpness_ratio", None),
        ("near black (x0.05)", darkened(0.05), None, None, "obstructed", "brightness", None),
        ("unaltered", None, None, None, None, "shift_px", None),
        ("people close to the lens", walkers_close(), None, None, None, "shift_px", None),
        ("2 s full occlusion", covered(1.0, grey=30), AT_S + 2, None, None, "covered", None),
        ("2 s light off", darkened(0.05), AT_S + 2, None, None, "brightness", None),
    ]
    print(f"every_s {SETTINGS.every_s:g}, moved over {SETTINGS.moved_fraction:.0%} of the width for "
          f"{SETTINGS.moved_hold_s:g} s, obstructed {SETTINGS.obstructed_fraction:.0%} for "
          f"{SETTINGS.obstructed_hold_s:g} s, blurred <= {SETTINGS.blurred_ratio:.0%} for {SETTINGS.blurred_hold_s:g} s")
    print(f"{'footage':8s} {'alteration':28s} {'expected':11s} {'got':11s} {'detect s':>8s}  estimate")
    rows: list[tuple[str, ...]] = []
    for footage in (vtest(), demo_still()):
        width = footage.frames[0].shape[1]
        for k, (name, alter, until_s, then, expected, figure, share) in enumerate(cases):
            seconds = 26.0 if then is None else 22.0
            verdicts, last, check_ms = detect(footage, alter, seconds, until_s, folder / f"{footage.name}{k}", then)
            got = [state for _, state, _ in verdicts]
            first = verdicts[0] if verdicts else None
            start = AT_S if then is None else seconds + SETTINGS.every_s
            when = f"{first[0] - start:8.1f}" if first else f"{'-':>8s}"
            figures = first[2] if first else last
            estimate = f"{figure} {figures.get(figure)}"
            if share is not None and figures.get("shift_px") is not None:
                true_px = share * width
                estimate += f" (true {true_px:.1f}, error {abs(figures['shift_px'] - true_px) / true_px:.0%})"
            ok = got == ([expected] if expected else [])
            print(f"{footage.name:8s} {name:28s} {expected or 'nothing':11s} {','.join(got) or 'nothing':11s} "
                  f"{when}  {estimate}  [{check_ms:.1f} ms/check]{'' if ok else '  <-- UNEXPECTED'}")
            rows.append((footage.name, name, expected or "nothing", ",".join(got) or "nothing",
                         when.strip(), estimate, f"{check_ms:.1f}", "yes" if ok else "**no**"))
    summary(markdown_table(("footage", "alteration", "expected", "got", "detect s", "estimate",
                            "ms/check", "as expected"), rows))


def site(folder: Path, clip: Path, detector: str, tamper: bool) -> Path:
    if detector == "onnx":
        model = {"id": "people", "kind": "onnx", "path": str(person_model()),
                 "class_map": {"Normal": "person", "Fall": "person"}, "confidence": 0.4}
    else:
        # No detections in the clip; one far past its end tells the config check that the
        # model outputs people, so the lane rule is not refused as blind.
        (folder / "none.jsonl").write_text(
            '{"frame": 1000000, "detections": [{"class": "person", "x1": 0, "y1": 0, "x2": 9, "y2": 9}]}\n',
            encoding="utf-8")
        model = {"id": "people", "kind": "replay", "path": str(folder / "none.jsonl")}
    path = folder / f"site-{detector}-{tamper}.yaml"
    path.write_text(yaml.safe_dump({
        "camera": {"id": "dock-3", "source": str(clip), "tamper": {"enabled": tamper}},
        "models": [model],
        "zones": [{"id": "lane", "polygon": [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]}],
        "rules": [{"id": "lane-intrusion", "type": "zone", "zone": "lane", "classes": ["person"]}],
        "sinks": [{"type": "jsonl", "path": str(folder / f"events-{detector}-{tamper}.jsonl")}],
        "outbox": {"path": str(folder / f"outbox-{detector}-{tamper}.db")},
        "monitor": {"enabled": False},
    }), encoding="utf-8")
    return path


def loop_fps(config_path: Path) -> tuple[float, int]:
    pipeline = build_pipeline(load_config(config_path), RunOptions(progress_s=3600, drain_s=0),
                              report=lambda line: None)
    summary = pipeline.run()
    view = pipeline.camera.view
    return summary.frames / summary.elapsed_s, view.checks_total if view is not None else 0


def part_two(folder: Path, frames: int, repeats: int, detectors: list[str]) -> None:
    clip = write_clip(folder / "plaza.mp4", play(vtest(), (frames - 1) / 10.0), 10.0)
    for detector in detectors:
        on_path, off_path = site(folder, clip, detector, True), site(folder, clip, detector, False)
        on, off, checks = [], [], 0
        loop_fps(off_path)  # warm-up: file cache, model load, imports
        for k in range(repeats):
            # Alternate which goes first, so a trend on the shared machine hits both alike.
            for tamper in ((False, True) if k % 2 == 0 else (True, False)):
                fps, n = loop_fps(on_path if tamper else off_path)
                (on if tamper else off).append(fps)
                checks = n or checks
        ratio = statistics.median(on) / statistics.median(off)
        print(f"{detector:7s} frame loop fps, {frames} frames of vtest.avi (768x576), {repeats} runs each: "
              f"checks off {statistics.median(off):7.1f}  on {statistics.median(on):7.1f} "
              f"({checks} checks per run)  on/off {ratio:.3f}  (target >= 0.98)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--detector", choices=("replay", "onnx", "both"), default="both")
    parser.add_argument("--skip-detection", action="store_true", help="part 2 only")
    add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_detection:
            part_one(folder)
        part_two(folder, args.frames, args.repeats,
                 ["replay", "onnx"] if args.detector == "both" else [args.detector])


if __name__ == "__main__":
    raise SystemExit(run(main, "tamper", "Tamper checks: time to detect, and the frame loop's cost"))
