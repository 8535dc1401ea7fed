"""The places editor's costs: what recording the rules' input adds to each frame, and how
long "What would it have fired?" takes over a full record.

A full record is 5 minutes of frames (3000 at 10 fps; 9000, the cap, at 30 fps) with
``--people`` tracked people in each. The preview replays it through fresh copies of the
rules on one zone (a zone rule, a count rule and a loiter rule) on a monitor thread; the
frame loop only pays :meth:`RuleHistory.add`, shown beside the cost of one zone rule's
``update`` on the same frame for scale.

    python benchmarks/places_preview.py [--people 20] [--fps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
from publish import add_flag, run

from streamer.config.models import Config
from streamer.detect.base import make_detections
from streamer.rules import build_rules
from streamer.rules.history import KEEP_S, MAX_FRAMES, RuleHistory, replay

WIDTH, HEIGHT = 1280, 720


def config() -> Config:
    return Config.model_validate({
        "camera": {"source": "bench.mp4"},
        "models": [{"id": "m", "kind": "hog"}],
        "zones": [{"id": "lane", "polygon": [[0.2, 0.3], [0.7, 0.3], [0.8, 0.95], [0.1, 0.95]]}],
        "rules": [
            {"id": "lane-in", "type": "zone", "zone": "lane", "cooldown_s": 5},
            {"id": "lane-crowd", "type": "count", "zone": "lane", "threshold": 8, "for_s": 2},
            {"id": "lane-loiter", "type": "loiter", "zone": "lane", "dwell_s": 20, "cooldown_s": 30},
        ],
        "sinks": [],
    })


def frames(count: int, people: int, fps: float) -> list:
    """``people`` walkers crossing the picture at different speeds, each with its own id."""
    rng = np.random.default_rng(7)
    start = rng.uniform(0, WIDTH, people)
    speed = rng.uniform(-40, 40, people)
    y = rng.uniform(200, HEIGHT - 10, people)
    out = []
    for index in range(count):
        x = (start + speed * index / fps) % WIDTH
        xyxy = np.stack([x - 20, y - 120, x + 20, y], axis=1)
        dets = make_detections(xyxy, [0.9] * people, ["person"] * people, "m")
        dets.tracker_id = np.arange(people)
        out.append(dets)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    add_flag(parser)
    args = parser.parse_args()
    count = min(MAX_FRAMES, int(KEEP_S * args.fps))
    # What a full record keeps alive: the frames' tracked detections plus the record itself.
    tracemalloc.start()
    record = frames(count, args.people, args.fps)
    kept = RuleHistory()
    for index, dets in enumerate(record):
        kept.add(index / args.fps, None, dets, [])
    held_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del kept
    cfg = config()

    adds, updates = [], []
    for _ in range(args.repeats):
        history = RuleHistory()
        zone_rule = build_rules(cfg, WIDTH, HEIGHT)[0]
        add_s = update_s = 0.0
        for index, dets in enumerate(record):
            t_s = index / args.fps
            started = time.perf_counter()
            fired = zone_rule.update(t_s, dets, 1e9 + t_s)
            update_s += time.perf_counter() - started
            started = time.perf_counter()
            history.add(t_s, 1e9 + t_s, dets, fired)
            add_s += time.perf_counter() - started
        adds.append(add_s / count)
        updates.append(update_s / count)
    seen = history.frames()

    replays = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        alerts = replay(build_rules(cfg, WIDTH, HEIGHT), seen)
        replays.append(time.perf_counter() - started)

    add_us, update_us = statistics.median(adds) * 1e6, statistics.median(updates) * 1e6
    print(f"record: {len(seen)} frames ({len(seen) / args.fps:.0f} s at {args.fps:g} fps), {args.people} people each")
    print(f"memory: a full record holds {held_mb:.1f} MiB")
    print(f"frame loop: RuleHistory.add {add_us:.1f} us/frame vs one zone rule's update {update_us:.1f} us/frame "
          f"(ratio {add_us / update_us:.2f})")
    print(f"preview: replay of the whole record through 3 rules on the zone: {statistics.median(replays):.2f} s "
          f"(median of {args.repeats}), {len(alerts)} would-be alerts")


if __name__ == "__main__":
    raise SystemExit(run(main, "places-preview", "The places editor's costs"))
