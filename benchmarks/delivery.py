"""Delivery figures against the local Vision Events server (tests/support/vision_events_server.py).

1. Throughput: events/s delivered from the outbox with batching (100 per POST) and real
   images (a 640x360 annotated snapshot plus the raw frame per event, JPEG q85, each
   uploaded). Target >= 200/s.
2. Frame loop: p99 time per frame of the real pipeline (``build_pipeline``) (HOG detector on every frame,
   replay detections firing about one event per frame) with the sink healthy, down
   (connection refused) and answering in 5 s. Modes are interleaved and repeated, and
   the medians compared. Target: ratio <= 1.05 (the sender never slows the frames).
3. Drain: time to deliver 10,000 events queued during an outage once the server is back.
4. Uplink: a backlog of 200 events (one snapshot each) drained through a server that waits
   0, 50, 100 and 200 ms before each answer (a real uplink's round trip), with uploads one
   at a time (``max_in_flight: 1``) and with the default in flight: events/s and the
   number of requests made (issue 14: >= 40 events/s at 100 ms).

    python benchmarks/delivery.py [--events 2000] [--frames 150] [--repeats 2] [--backlog 10000]
                                  [--latencies 0,50,100,200] [--in-flight 1,8] [--uplink-events 200]
                                  [--only throughput|frame-loop|drain|uplink]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import yaml
from publish import add_flag, run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.vision_events_server import Delay, VisionEventsServer  # noqa: E402

from streamer.config import load_config  # noqa: E402
from streamer.config.models import VisionEventsSinkConfig  # noqa: E402
from streamer.events.outbox import Outbox  # noqa: E402
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord  # noqa: E402
from streamer.events.sender import Sender  # noqa: E402
from streamer.pipeline import RunOptions, build_pipeline  # noqa: E402
from streamer.sinks.http import make_client  # noqa: E402
from streamer.sinks.vision_events import VisionEventsSink  # noqa: E402

API_KEY = "bench-key"
USE_CASE = "site-safety"


def frame_jpegs(count: int) -> list[bytes]:
    """A few distinct 640x360 street-like frames at q85 (real sizes, ~40-60 KB)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        image = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (0, 0), 3)
        cv2.rectangle(image, (100 + i, 80), (160 + i, 260), (0, 0, 255), 2)
        out.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    return out


def record(images: list[bytes], raw: bool) -> EventRecord:
    event_id = str(uuid.uuid4())
    entry: dict[str, Any] = {"label": "snapshot", "objectDetections": [
        {"class": "person", "x": 130.0, "y": 170.0, "width": 60.0, "height": 180.0,
         "confidence": 0.9}]}
    if raw:
        entry[INPUT_IMAGE_KEY] = 1
    payload = {
        "eventId": event_id, "eventType": "safety_alert", "timestamp": "2025-05-01T12:00:00.000Z",
        "deviceId": "bench", "streamId": "cam", "images": [entry],
        "eventData": {"alertType": "zone_intrusion", "severity": "high", "description": "bench"},
        "customMetadata": {"rule_id": "bench"},
    }
    return EventRecord(event_id, payload, images[: 2 if raw else 1], time.time(), "bench")


def fill(outbox: Outbox, count: int, raw: bool) -> None:
    jpegs = frame_jpegs(8)
    for i in range(count):
        outbox.add(record([jpegs[i % 8], jpegs[(i + 1) % 8]], raw), ["vision_events"])


def drain(outbox: Outbox, server: VisionEventsServer, client: httpx.Client,
          **sink: Any) -> float:
    config = VisionEventsSinkConfig(type="vision_events", api_url=server.url, api_key=API_KEY,
                                    use_case=USE_CASE, **sink)
    sender = Sender(VisionEventsSink(config, client), outbox, idle_s=0.05)
    started = time.perf_counter()
    sender.start()
    while outbox.pending_total(["vision_events"]):
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    sender.stop()
    return elapsed


def throughput(workdir: Path, events: int) -> None:
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as server, \
            httpx.Client() as client:
        for raw in (False, True):
            outbox = Outbox(workdir / f"throughput-{raw}.db")
            fill(outbox, events, raw)
            elapsed = drain(outbox, server, client)
            assert len(server.events) >= events
            images = "snapshot + raw frame" if raw else "snapshot"
            print(f"throughput ({images}, batches of 100): {events} events in {elapsed:.2f} s "
                  f"= {events / elapsed:.0f} events/s  (target >= 200)", flush=True)
            server.clear()


def frame_loop_scene(workdir: Path, frames: int) -> tuple[Path, dict[str, Any]]:
    video = workdir / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (640, 360))
    base = np.tile(np.linspace(40, 200, 640, dtype=np.uint8), (360, 1))
    for _ in range(frames):
        writer.write(cv2.cvtColor(base, cv2.COLOR_GRAY2BGR))
    writer.release()
    rows = []
    for frame in range(frames):  # a walker every 20 frames crossing into the right half
        k, i = divmod(frame, 20)
        x = 200 + 10 * i
        rows.append({"frame": frame, "detections": [
            {"class": "person", "x1": x, "y1": 100, "x2": x + 40, "y2": 210, "confidence": 0.9}]})
    replay = workdir / "dets.jsonl"
    replay.write_text("".join(json.dumps(row) + "\n" for row in rows))
    rules = [{"id": f"lane-{i}", "type": "zone", "zone": "lane", "min_frames": 2, "cooldown_s": 0}
             for i in range(20)]
    config = {
        "camera": {"id": "cam", "source": str(video)},
        "models": [{"id": "hog", "kind": "hog"}, {"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}],
        "rules": rules,
    }
    return workdir, config


def frame_times(workdir: Path, config: dict[str, Any], url: str, tag: str) -> list[float]:
    config = dict(config)
    config["sinks"] = [{"type": "vision_events", "api_url": url, "api_key": API_KEY,
                        "use_case": USE_CASE, "timeout_s": 10, "upload_input_image": True}]
    config["outbox"] = {"path": str(workdir / f"loop-{tag}-{uuid.uuid4().hex[:6]}.db")}
    path = workdir / "loop.yaml"
    path.write_text(yaml.safe_dump(config))
    times: list[float] = []

    def timed(_frame: Any, _events: Any, seconds: float) -> None:
        times.append(seconds)

    summary = build_pipeline(load_config(path), RunOptions(progress_s=3600, drain_s=0, on_step=timed),
                             report=lambda line: None).run()
    assert summary.events_accepted > 0
    return times[5:]  # the first frames warm up HOG and the tracker


def frame_loop(workdir: Path, frames: int, repeats: int) -> None:
    scene_dir, config = frame_loop_scene(workdir, frames)
    healthy = VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)).start()
    slow = VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)).start()
    slow.script(*[Delay(5.0)] * 100000)
    down = VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)).start()
    down_url = down.url
    down.stop()
    p99: dict[str, list[float]] = {"healthy": [], "down": [], "slow (5 s)": []}
    try:
        for _ in range(repeats):
            for mode, url in (("healthy", healthy.url), ("down", down_url), ("slow (5 s)", slow.url)):
                times = frame_times(scene_dir, config, url, mode.split()[0])
                p99[mode].append(float(np.percentile(times, 99)))
                print(f"  {mode:<11} p99 {1000 * p99[mode][-1]:6.1f} ms  "
                      f"median {1000 * statistics.median(times):6.1f} ms", flush=True)
    finally:
        healthy.stop()
        slow.stop()
    base = statistics.median(p99["healthy"])
    for mode, values in p99.items():
        value = statistics.median(values)
        print(f"frame loop p99 per frame, sink {mode:<11}: {1000 * value:6.1f} ms  "
              f"ratio to healthy {value / base:.3f}  (target <= 1.05)", flush=True)


def backlog(workdir: Path, count: int) -> None:
    outbox = Outbox(workdir / "backlog.db")
    started = time.perf_counter()
    fill(outbox, count, raw=False)
    print(f"  queued {count} events during the outage in {time.perf_counter() - started:.1f} s",
          flush=True)
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as server, \
            httpx.Client() as client:
        elapsed = drain(outbox, server, client)
        assert len(server.events) == count
    print(f"drain after an outage: {count} queued events delivered in {elapsed:.1f} s "
          f"({count / elapsed:.0f} events/s)", flush=True)


def uplink(workdir: Path, count: int, latencies_ms: list[float], in_flight: list[int]) -> None:
    for width in in_flight:
        for latency_ms in latencies_ms:
            outbox = Outbox(workdir / f"uplink-{width}-{latency_ms:g}.db")
            fill(outbox, count, raw=False)
            with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,),
                                    latency_s=latency_ms / 1000) as server, \
                    make_client(30.0, width) as client:
                elapsed = drain(outbox, server, client, max_in_flight=width)
                assert len(server.events) == count
                assert all(n == 1 for n in server.post_counts.values())
                requests, widest = len(server.requests), server.max_in_flight
                connections = server.connections_total
            print(f"uplink {latency_ms:5g} ms per request, max_in_flight {width:2d}: {count} events "
                  f"in {elapsed:6.2f} s = {count / elapsed:6.1f} events/s, {requests} requests "
                  f"(at most {widest} at once) on {connections} connections", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=10000)
    parser.add_argument("--latencies", default="0,50,100,200",
                        help="uplink: ms the server waits per request, comma-separated")
    parser.add_argument("--in-flight", default="1,8",
                        help="uplink: max_in_flight values to compare, comma-separated")
    parser.add_argument("--uplink-events", type=int, default=200)
    parser.add_argument("--only", choices=("throughput", "frame-loop", "drain", "uplink"),
                        help="run one of the four measurements")
    add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="streamer-delivery-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "throughput"):
            throughput(workdir, args.events)
        if args.only in (None, "frame-loop"):
            frame_loop(workdir, args.frames, args.repeats)
        if args.only in (None, "drain"):
            backlog(workdir, args.backlog)
        if args.only in (None, "uplink"):
            uplink(workdir, args.uplink_events, [float(v) for v in args.latencies.split(",")],
                   [int(v) for v in args.in_flight.split(",")])
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main, "delivery", "Delivery to the Vision Events test server"))
