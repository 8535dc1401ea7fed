"""Rules cost per frame: 20 rules of every type over frames of 100 detections.

Tracker excluded: detections arrive with track ids already set, as ByteTrack hands them
to the rules (persons tracked, PPE items mostly ``-1``). 60 people walk through the
scene at different speeds so sides, timers and cooldowns keep changing; 40 items
(helmets, vests) sit on or near them. Target: <= 1 ms per frame for all 20 rules.

    python benchmarks/rules.py [--frames 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from publish import add_flag, run

from streamer.config.models import Config
from streamer.detect.base import make_detections
from streamer.rules import build_rules, rules_state

WIDTH, HEIGHT, FPS = 1280, 720, 10.0


def config() -> Config:
    zones = [
        {"id": f"z{i}", "polygon": [[0.05 + 0.2 * i, 0.2], [0.22 + 0.2 * i, 0.2],
                                    [0.22 + 0.2 * i, 0.95], [0.05 + 0.2 * i, 0.95]]}
        for i in range(4)
    ]
    lines = [{"id": f"l{i}", "start": [0.2 + 0.2 * i, 0.05], "end": [0.2 + 0.2 * i, 0.98]} for i in range(4)]
    rules: list[dict[str, object]] = []
    for i in range(5):
        rules.append({"id": f"zone{i}", "type": "zone", "zone": f"z{i % 4}", "classes": ["person"],
                      "trigger": "enter" if i % 2 == 0 else "exit", "cooldown_s": 5})
    for i in range(4):
        rules.append({"id": f"count{i}", "type": "count", "zone": f"z{i}", "classes": ["person"],
                      "threshold": 8, "for_s": 1, "clear_s": 1})
    for i in range(4):
        rules.append({"id": f"line{i}", "type": "line", "line": f"l{i}", "classes": ["person"],
                      "cooldown_s": 2})
    for i in range(4):
        rules.append({"id": f"loiter{i}", "type": "loiter", "zone": f"z{i}", "classes": ["person"],
                      "dwell_s": 3, "cooldown_s": 10})
    for i in range(3):
        rules.append({"id": f"ppe{i}", "type": "missing_ppe", "required": ["helmet", "vest"][: 1 + i % 2],
                      "for_s": 2, "cooldown_s": 30})
    return Config.model_validate({
        "camera": {"source": "bench.mp4"},
        "models": [{"id": "m", "kind": "replay", "path": "bench.jsonl"}],
        "zones": zones, "lines": lines, "rules": rules,
    })


def frames(count: int, seed: int = 7) -> list[object]:
    rng = np.random.default_rng(seed)
    people, items = 60, 40
    start_x = rng.uniform(0, WIDTH, people)
    speed = rng.uniform(-12, 12, people)
    top = rng.uniform(60, HEIGHT - 260, people)
    out = []
    for index in range(count):
        x = (start_x + speed * index) % (WIDTH - 60) + rng.normal(0, 1.5, people)
        persons = np.stack([x, top, x + 50, top + 180], axis=1)
        owner = np.arange(items) % people
        wear = rng.random(items) < 0.8  # some items lie elsewhere in the picture
        hx = persons[owner, 0] + 25
        hy = np.where(wear, persons[owner, 1] + 15, persons[owner, 1] + 120)
        helmets = np.stack([hx - 12, hy - 12, hx + 12, hy + 12], axis=1)
        xyxy = np.concatenate([persons, helmets])
        names = ["person"] * people + ["helmet" if i % 2 == 0 else "vest" for i in range(items)]
        dets = make_detections(xyxy, np.full(people + items, 0.8), names, "m")
        dets.tracker_id = np.concatenate([np.arange(people), np.full(items, -1)])
        out.append(dets)
    return out


def one_pass(cfg: Config, data: list[object]) -> tuple[float, int]:
    rules = build_rules(cfg, WIDTH, HEIGHT)
    events = 0
    started = time.perf_counter()
    for index, dets in enumerate(data):
        t_s = index / FPS
        for rule in rules:
            events += len(rule.update(t_s, dets, 1_767_600_000.0 + t_s))
    elapsed = time.perf_counter() - started
    rules_state(rules, len(data) / FPS)  # the monitor's structure builds from the same state
    return elapsed, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    add_flag(parser)
    args = parser.parse_args()
    cfg = config()
    data = frames(args.frames)
    one_pass(cfg, data[:100])  # warm-up: imports, first allocations
    per_frame_ms = []
    events = 0
    for _ in range(args.repeats):
        elapsed, events = one_pass(cfg, data)
        per_frame_ms.append(1000 * elapsed / args.frames)
    median = statistics.median(per_frame_ms)
    print(f"rules: {len(cfg.rules)} (zone 5, count 4, line 4, loiter 4, missing_ppe 3)")
    print(f"frames: {args.frames} of {len(data[0])} detections (60 tracked people, 40 PPE items)")
    print(f"events fired per pass: {events}")
    print("ms per frame, each pass: " + ", ".join(f"{v:.3f}" for v in per_frame_ms))
    print(f"median: {median:.3f} ms per frame; target <= 1.000 ms; ratio target/measured "
          f"{1.0 / median:.2f} ({'met' if median <= 1.0 else 'NOT met'})")


if __name__ == "__main__":
    raise SystemExit(run(main, "rules", "Rules: cost per frame"))
