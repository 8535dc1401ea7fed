"""Pipeline fps with no viewer vs three MJPEG viewers on the monitor, side by side.

The demo's pipeline (ONNX person model on bikes.mp4, tracking, zone rules, JSONL sink)
runs with the monitor on; in the "viewers" passes three clients read /stream.mjpg for
the whole run. Passes alternate (none, viewers, none, viewers, ...) and medians are
compared. Target: the viewers cost at most 2 % of the fps (ratio >= 0.98).

    python benchmarks/monitor_viewers.py [--frames 250] [--repeats 2] [--viewers 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
from publish import add_flag, run
from timing import report_ratio

from streamer.config.models import MonitorConfig
from streamer.demo import demo_config
from streamer.pipeline import RunOptions, build_pipeline


def viewer(url: str, stop: threading.Event, counts: list[int]) -> None:
    """Reads the MJPEG stream as a browser would, counting the JPEGs it got."""
    try:
        with httpx.Client(timeout=10) as client, client.stream("GET", url + "stream.mjpg") as response:
            for chunk in response.iter_bytes():
                counts[0] += chunk.count(b"\xff\xd8\xff")
                if stop.is_set():
                    return
    except httpx.HTTPError:
        return


def one_pass(out: Path, frames: int, viewers: int) -> tuple[float, int, int]:
    config = demo_config(out, report=lambda line: None, clips=False)
    config = config.model_copy(update={"monitor": MonitorConfig(bind="127.0.0.1:0")})
    pipeline = build_pipeline(config, RunOptions(max_frames=frames, drain_s=1.0, progress_s=3600),
                             report=lambda line: None)
    stop = threading.Event()
    counts = [[0] for _ in range(viewers)]
    threads: list[threading.Thread] = []

    def attach() -> None:
        while pipeline.monitor is None and not stop.is_set():
            time.sleep(0.01)
        if pipeline.monitor is None:
            return
        for count in counts:
            thread = threading.Thread(target=viewer, args=(pipeline.monitor.url, stop, count), daemon=True)
            thread.start()
            threads.append(thread)

    attacher = threading.Thread(target=attach, daemon=True)
    attacher.start()
    summary = pipeline.run()
    stop.set()
    for thread in threads:
        thread.join(5)
    return summary.fps, sum(c[0] for c in counts), summary.events_accepted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--viewers", type=int, default=3)
    add_flag(parser)
    args = parser.parse_args()

    alone: list[float] = []
    watched: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeats):
            fps, _, _ = one_pass(Path(tmp) / f"a{attempt}", args.frames, 0)
            alone.append(fps)
            fps_v, jpegs, _ = one_pass(Path(tmp) / f"b{attempt}", args.frames, args.viewers)
            watched.append(fps_v)
            print(f"pass {attempt + 1}: no viewer {fps:.2f} fps; {args.viewers} viewers {fps_v:.2f} fps "
                  f"({jpegs} JPEGs received in all)")
    report_ratio(("pipeline fps, no viewer (median): {}", alone),
                 (f"pipeline fps, {args.viewers} viewers (median): {{}}", watched), "ratio", 0.98)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main, "monitor-viewers", "Pipeline fps with and without monitor viewers"))
