"""Cameras per box: K live cameras in one ``streamer run`` process, from real footage.

K cameras are served by the real GStreamer RTSP test server (tests/support/rtsp_server.py, one
server per camera, each starting at another moment of the clip) at 10 fps. The clip is
either vtest.avi (``--clip busy``: people walk all the time) or a mostly static clip made
from it (``--clip static``: benchmarks/footage.py's, 120 s, 87 % still).
For each K the box runs in a child process for ``--seconds`` and this prints per camera:

- detection rate: the model's runs per second (over the whole window, and while something
  moves in the watched area, from the clip's own timeline);
- capture-to-event latency p50/p99: from the frame's capture (decode) time to the event
  handed to the outbox;
- the box's CPU (share of one core) and total resident memory (peak);
- events against the clip's single-camera run with gating off (every frame of the file
  analysed): each reference event, in every pass of the clip the run covered, counts as
  kept when the camera fired the same rule on the same object (a box of each overlaps) within
  1 s of clip time.

``--inference-python PATH``: also runs Roboflow's InferencePipeline 0.59.1 (its
multi-source mode, one pipeline over the same K RTSP URLs and the same model) from a venv
with ``pip install -e '.[roboflow]'``, and prints its predictions per second per camera.

    nice -n 10 python benchmarks/cameras_per_box.py --clip static --cameras 1,2,4,6 --seconds 60

Needs Debian's ffmpeg and GStreamer RTSP server (tests/support/rtsp.py names the packages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
from publish import add_flag, publish

ROOT = Path(__file__).resolve().parent.parent
FPS = 10
GOP = FPS  # a keyframe each second: servers start their clip on one
WARMUP_S = 8.0  # RTSP open (~3 s) and the burst of buffered frames that follows
MATCH_S = 1.0
# Bump when what the detector finds changes (the reference is kept in the cache): 2, the
# person model runs at the frame's own shape (fit_input); 3, each event's story start; 4,
# every box of the event (a count rule's event holds all the objects it counted).
REFERENCE_VERSION = 4
EPISODE_GAP = 5  # frames (0.5 s) without motion that still belong to one motion episode


# --- footage -----------------------------------------------------------------------------


def annex_b(mp4: Path) -> Path:
    """The clip as Annex-B H.264 with an access-unit delimiter per frame, no B-frames and
    a keyframe a second: what the RTSP test server replays."""
    out = mp4.with_suffix(".h264")
    if not out.exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(mp4), "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "20", "-bf", "0", "-g", str(GOP),
                        "-pix_fmt", "yuv420p", "-x264-params", "aud=1", "-f", "h264", str(out)],
                       check=True)
    return out


def footage(kind: str, folder: Path) -> tuple[Path, list[bool], dict[str, Any]]:
    """(the clip as MP4, per frame whether people walk in it, the camera config to watch it
    with) from benchmarks/footage.py: its mostly static clip, or vtest.avi itself."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import footage as made  # benchmarks/footage.py

    if kind == "static":
        clip = made.make_static_clip(cache_dir() / "static-120s-0.mp4")
        moving = [any("walk" in s.kind and s.start_s <= i / FPS < s.end_s for s in clip.segments)
                  for i in range(int(round(clip.seconds * FPS)))]
        return clip.path, moving, made.site_config(clip, "SOURCE", "MODEL")
    from streamer.assets import busy_video

    mp4 = cache_dir() / "vtest.mp4"
    if not mp4.exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(busy_video()), "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "20", "-bf", "0", "-g", str(GOP), "-r", str(FPS),
                        "-pix_fmt", "yuv420p", str(mp4)], check=True)
    frames = int(cv2.VideoCapture(str(mp4)).get(cv2.CAP_PROP_FRAME_COUNT))
    return mp4, [True] * frames, made.busy_clip_config("SOURCE", "MODEL")


def cache_dir() -> Path:
    from streamer.cache import cache_root

    folder = cache_root() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- configs -------------------------------------------------------------------------------


def camera_config(folder: Path, name: str, source: str, model: Path, site: dict[str, Any]) -> Path:
    """``site``'s rules for camera ``name`` on ``source``, with its own sink and outbox."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads(json.dumps(site))
    config["camera"] = {**config["camera"], "id": name, "source": source}
    for entry in config["models"]:
        entry["path"] = str(model)
    config.update(sinks=[{"type": "jsonl", "path": str(folder / "events.jsonl")}],
                  outbox={"path": str(folder / "outbox.db")}, monitor={"enabled": False})
    path = folder / "camera.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, it does not carry the
    parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --- child: the box --------------------------------------------------------------------------


def run_box_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One box of K cameras for ``seconds``: what each camera detected and fired, and when."""
    from streamer.config import load_config
    from streamer.pipeline import RunOptions
    from streamer.pipeline.box import Box

    configs = [(Path(p), load_config(p)) for p in spec["configs"]]
    stop = threading.Event()
    box = Box(configs, RunOptions(progress_s=3600, drain_s=2, duration_s=spec["seconds"]),
              stop=stop, report=lambda line: None, workers=spec.get("workers"),
              threads=spec.get("threads"))
    record: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    for camera in box.cameras:
        slots = camera.pipeline.step.detectors.slots
        mine: dict[str, Any] = {"detected": [], "events": [], "frames": [], "moving": []}
        record[camera.id] = mine

        def hook(frame: Any, fired: list, step_s: float, slots: Any = slots, mine: dict = mine,
                 step: Any = camera.pipeline.step) -> None:
            now = time.time()
            runs = sum(slot.runs_total for slot in slots)
            if runs != mine.get("runs", 0):
                mine["runs"] = runs
                mine["detected"].append((frame.index, time.monotonic() - started))
            mine["frames"].append(frame.index)
            gate = step.gate  # built once the first frame gives the size
            motion = gate.motion if gate is not None else None
            if motion is not None and motion.moving_frames_total != mine.get("moved", 0):
                mine["moved"] = motion.moving_frames_total
                mine["moving"].append(frame.index)  # motion in its watched area on this frame
            for event in fired:
                boxes = event.detections.xyxy.tolist()
                mine["events"].append({"rule": event.rule_id, "index": frame.index,
                                       "latency_s": now - frame.wall_ts, "boxes": boxes,
                                       "at_s": time.monotonic() - started})

        camera.pipeline.options = replace(camera.pipeline.options, on_step=hook)
    cpu0 = os.times()
    wall0 = time.monotonic()
    box.run()
    wall = time.monotonic() - wall0
    cpu1 = os.times()
    rss_kb = peak_rss_kb()
    for camera in box.cameras:
        gate = camera.pipeline.step.gate
        record[camera.id]["runs_for"] = dict(gate.runs_for) if gate is not None else {}
    for mine in record.values():
        mine["frames"] = [min(mine["frames"], default=0), max(mine["frames"], default=0), len(mine["frames"])]
    return {"cameras": record, "wall_s": wall,
            "cpu_cores": ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall,
            "rss_mb": rss_kb / 1024, "inference": box.models.status()}


def reference_events(clip: Path, site: dict[str, Any], model: Path, folder: Path) -> list[dict[str, Any]]:
    """The clip analysed as a file, every frame, no gating: the events a camera should fire.

    Kept in the streamer cache beside the clip and rules it was made from (minutes of
    inference on a small box).
    """
    import hashlib

    from streamer.config import load_config
    from streamer.pipeline import RunOptions, build_pipeline

    recipe = json.dumps([REFERENCE_VERSION, site], sort_keys=True).encode()
    digest = hashlib.sha256(clip.read_bytes() + recipe).hexdigest()[:16]
    cached = cache_dir() / f"cameras-per-box-reference-{digest}.json"
    if cached.exists():
        return json.loads(cached.read_text())  # type: ignore[no-any-return]
    print("reference run: the clip as a file, every frame, no gating (once; cached)", flush=True)
    analysis = {**site, "detect": {"motion": False}}
    loaded = load_config(camera_config(folder, "reference", str(clip), model, analysis))
    events: list[dict[str, Any]] = []
    first_seen: dict[int, int] = {}  # track id -> the frame it was first tracked on

    def hook(frame: Any, fired: list, step_s: float) -> None:
        for track in pipeline.step.last_tracked.tracker_id if pipeline.step.last_tracked.tracker_id is not None else ():
            if track >= 0:
                first_seen.setdefault(int(track), frame.index)
        for event in fired:
            tracks = event.detections.tracker_id if event.detections.tracker_id is not None else ()
            since = min((first_seen[int(t)] for t in tracks if int(t) in first_seen), default=frame.index)
            events.append({"rule": event.rule_id, "t_s": frame.index / FPS, "since_s": since / FPS,
                           "boxes": event.detections.xyxy.tolist()})

    pipeline = build_pipeline(loaded, RunOptions(progress_s=3600, drain_s=1, on_step=hook, deliver=False,
                                                 monitor=False), report=lambda line: None)
    pipeline.run()
    cached.write_text(json.dumps(events))
    return events


# --- child: InferencePipeline ---------------------------------------------------------------


def run_inference_pipeline_child(spec: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from vs_inference_pipeline import MODEL_ID, place_model

    cache = Path(spec["workdir"]) / "model-cache"
    place_model(cache, Path(spec["model"]))
    os.environ.update({
        "MODEL_CACHE_DIR": str(cache), "DISABLE_VERSION_CHECK": "True",
        "METRICS_ENABLED": "False", "TELEMETRY_USE_PERSISTENT_QUEUE": "False",
        "ONNXRUNTIME_EXECUTION_PROVIDERS": "[CPUExecutionProvider]", "LOG_LEVEL": "ERROR",
    })
    os.environ.pop("ROBOFLOW_API_KEY", None)
    import warnings

    warnings.simplefilter("ignore")  # its optional models' missing extras, one line each
    from inference import InferencePipeline

    counts: dict[int, list[float]] = {}
    started = time.monotonic()

    def sink(predictions: Any, frames: Any) -> None:
        frames = frames if isinstance(frames, list) else [frames]
        for frame in frames:
            if frame is not None:
                counts.setdefault(frame.source_id, []).append(time.monotonic() - started)

    pipeline = InferencePipeline.init(
        video_reference=spec["urls"], model_id=MODEL_ID, on_prediction=sink,
        confidence=0.5, iou_threshold=0.5, api_key=None,
    )
    pipeline.start(use_main_thread=False)
    time.sleep(spec["seconds"])
    pipeline.terminate()
    pipeline.join()
    window = spec["seconds"] - WARMUP_S
    rates = {str(k): sum(1 for t in v if t >= WARMUP_S) / window for k, v in counts.items()}
    return {"rates": rates, "rss_mb": peak_rss_kb() / 1024}


# --- parent ------------------------------------------------------------------------------------


class Servers:
    """K RTSP servers at 10 fps, each starting its clip at another keyframe."""

    def __init__(self, clip: Path, count: int, frames: int) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from support import free_port

        self.processes: list[subprocess.Popen[str]] = []
        self.starts: list[int] = []
        self.urls: list[str] = []
        for k in range(count):
            port = free_port()
            start = (k * frames // count) // GOP * GOP
            process = subprocess.Popen(
                ["/usr/bin/python3", str(ROOT / "tests" / "support" / "rtsp_server.py"), "--port", str(port),
                 "--clip", str(annex_b(clip)), "--fps", str(FPS), "--start", str(start)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise SystemExit("the RTSP test server did not start (tests/support/rtsp.py names its packages)")
            self.processes.append(process)
            self.starts.append(start)
            self.urls.append(f"rtsp://127.0.0.1:{port}/stream1")

    def close(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGKILL)
            process.wait(10)


def child(args: list[str], spec: dict[str, Any], python: str = sys.executable) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    out = Path(handle.name).with_suffix(".out.json")
    subprocess.run(["nice", "-n", "10", python, __file__, *args, handle.name, str(out)], check=True,
                   timeout=spec["seconds"] + 180)
    return json.loads(out.read_text())


def iou(a: list[float] | None, b: list[float] | None) -> float:
    if a is None or b is None:
        return 0.0
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def same_object(got: list[list[float]], ref: list[list[float]]) -> bool:
    """Whether two events are about the same object: a box of one overlaps a box of the
    other (IoU >= 0.3). A count rule's event holds every object counted, in no set order;
    one that names none (a count held through a missed detection by its ``clear_s``)
    matches on rule and time alone."""
    if not got or not ref:
        return True
    return any(iou(a, b) >= 0.3 for a in got for b in ref)


def kept_events(reference: list[dict[str, Any]], got: list[dict[str, Any]], first: int,
                last: int, frames: int) -> tuple[int, int, list[str]]:
    """(reference events kept, reference events due, the missed ones as "rule at clip
    second (nearest event of that rule)") over every pass of the clip the camera
    saw between clip positions ``first`` and ``last`` (frames since the clip's start, so a
    reference event at frame r recurs at r + m * frames). An event is due only where the
    camera saw its whole story: its objects' first frame came after the camera's (a
    camera started while someone already stood in the zone for 10 s cannot fire the
    20 s loiter at the same moment as the run that saw them arrive)."""
    due = kept = 0
    missed: list[str] = []
    for ref in reference:
        at = round(ref["t_s"] * FPS)
        lead = at - round(ref.get("since_s", ref["t_s"]) * FPS)
        for occurrence in range(at + (first - at) // frames * frames, last + 1, frames):
            if not (first <= occurrence - lead and occurrence <= last - MATCH_S * FPS):
                continue
            due += 1
            if any(e["rule"] == ref["rule"] and abs(e["index"] - occurrence) <= MATCH_S * FPS
                   and same_object(e["boxes"], ref["boxes"]) for e in got):
                kept += 1
                continue
            same = [e for e in got if e["rule"] == ref["rule"]]
            near = min(same, key=lambda e: abs(e["index"] - occurrence), default=None)
            missed.append(f"{ref['rule']} at {occurrence / FPS:.1f} s" + (
                f" (nearest: {(near['index'] - occurrence) / FPS:+.1f} s, "
                f"{'same' if same_object(near['boxes'], ref['boxes']) else 'other'} object)"
                if near else " (none of that rule)"))
    return kept, due, missed


def motion_episodes(frames: list[int], gap: int = EPISODE_GAP) -> list[tuple[int, int]]:
    """Frames with motion merged into episodes (first, last frame) where no more than
    ``gap`` frames pass without motion: the spells during which the area moves."""
    episodes: list[tuple[int, int]] = []
    for index in sorted(frames):
        if episodes and index - episodes[-1][1] <= gap:
            episodes[-1] = (episodes[-1][0], index)
        else:
            episodes.append((index, index))
    return episodes


def calls_line(result: dict[str, Any], camera: str) -> str:
    """The camera's model calls on the box's workers: mean time run and waited for a worker."""
    calls = result.get("inference", {}).get("cameras", {}).get(camera)
    if not calls:
        return ""
    return (f"; calls: {calls['mean_run_s'] * 1000:.0f} ms run, "
            f"{calls['mean_wait_s'] * 1000:.0f} ms waited (mean)")


def report_box(k: int, result: dict[str, Any], servers: Servers, moving: list[bool],
               reference: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    frames = len(moving)
    rates, moving_rates, area_rates, latencies, kept_total, due_total = [], [], [], [], 0, 0
    for (name, cam), start in zip(result["cameras"].items(), servers.starts):
        window = [(i, t) for i, t in cam["detected"] if t >= WARMUP_S]
        rate = len(window) / max(1e-9, seconds - WARMUP_S)
        first_index, last_index, seen_frames = cam["frames"]
        warm = [i for i, t in cam["detected"] if t >= WARMUP_S]
        first = warm[0] if warm else last_index
        moving_frames = sum(moving[(start + i) % frames] for i in range(first, last_index + 1))
        moving_det = sum(moving[(start + i) % frames] for i, _ in window)
        moving_rate = moving_det / (moving_frames / FPS) if moving_frames else float("nan")
        # While motion touches its watched area, as the camera's own motion check saw it
        # (the walks above also cover people outside that area): its motion episodes.
        episodes = motion_episodes([i for i in cam["moving"] if i >= first])
        area_det = sum(1 for i, _ in window if any(a <= i <= b for a, b in episodes))
        area_s = sum(b - a + 1 for a, b in episodes) / FPS
        area_rate = area_det / area_s if area_s else float("nan")
        events = [e for e in cam["events"] if e["at_s"] >= WARMUP_S]
        for event in events:
            event["index"] += start  # clip position of the server's first frame
        kept, due, missed = kept_events(reference, events, first + start, last_index + start, frames)
        kept_total, due_total = kept_total + kept, due_total + due
        latencies += [e["latency_s"] for e in events]
        rates.append(rate)
        moving_rates.append(moving_rate)
        area_rates.append(area_rate)
        print(f"  K={k} {name}: detections {rate:.2f}/s (while people walk {moving_rate:.2f}/s, "
              f"while its watched area moves {area_rate:.2f}/s), "
              f"frames looked at {seen_frames / max(1, last_index - first_index + 1):.0%}, "
              f"events {len(events)}, kept {kept}/{due} of the reference run's; runs for "
              f"{', '.join(f'{why} {n}' for why, n in cam.get('runs_for', {}).items() if n)}"
              f"{calls_line(result, name)}"
              f"{'; missed ' + ', '.join(missed) if missed else ''}", flush=True)
    latencies.sort()
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    line = {"K": k, "min_rate": min(rates), "mean_rate": statistics.mean(rates),
            "min_moving_rate": min(moving_rates), "min_area_rate": min(area_rates), "p50_s": p50, "p99_s": p99,
            "cpu_cores": result["cpu_cores"], "rss_mb": result["rss_mb"],
            "kept": kept_total, "due": due_total}
    print(f"K={k}: detections per camera min {line['min_rate']:.2f}/s mean {line['mean_rate']:.2f}/s "
          f"(while people walk: min {line['min_moving_rate']:.2f}/s; while its watched area moves: "
          f"min {line['min_area_rate']:.2f}/s); latency p50 {p50:.2f} s p99 {p99:.2f} s "
          f"({len(latencies)} events); CPU {result['cpu_cores']:.2f} cores; RSS {result['rss_mb']:.0f} MB; "
          f"reference events kept {kept_total}/{due_total}", flush=True)
    return line


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] in ("--box-child", "--ip-child"):
        spec = json.loads(Path(sys.argv[2]).read_text())
        result = (run_box_child if sys.argv[1] == "--box-child" else run_inference_pipeline_child)(spec)
        Path(sys.argv[3]).write_text(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", choices=("static", "busy"), default="static")
    parser.add_argument("--cameras", default="1,2,4,6,8", help="values of K")
    parser.add_argument("--seconds", type=float, default=60.0, help="each box's run")
    parser.add_argument("--workers", type=int, help="inference workers (default: the box's)")
    parser.add_argument("--threads", type=int, help="each call's onnxruntime threads (default: the box's)")
    parser.add_argument("--inference-python", help="a venv's python with inference 0.59.1")
    add_flag(parser)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs Debian's ffmpeg")
    from streamer.assets import person_model

    model = person_model()
    workdir = Path(tempfile.mkdtemp(prefix="cameras-per-box-"))
    clip, moving, site = footage(args.clip, workdir)
    frames = len(moving)
    reference = reference_events(clip, site, model, workdir / "reference")
    setup = (f"machine: {os.cpu_count()} cores; clip {args.clip}: {frames} frames at {FPS} fps, "
             f"{100 * (1 - sum(moving) / frames):.0f} % still; reference run (file, every frame, "
             f"no gating): {len(reference)} events per pass; each box runs {args.seconds:.0f} s, "
             f"figures after the first {WARMUP_S:.0f} s")
    print(setup, flush=True)
    table = []
    for k in [int(v) for v in args.cameras.split(",")]:
        servers = Servers(clip, k, frames)
        try:
            configs = [str(camera_config(workdir / f"k{k}" / f"cam{i}", f"cam{i}", url, model, site))
                       for i, url in enumerate(servers.urls)]
            result = child(["--box-child"], {"configs": configs, "seconds": args.seconds,
                                             "workers": args.workers, "threads": args.threads})
            line = report_box(k, result, servers, moving, reference, args.seconds)
            if args.inference_python:
                theirs = child(["--ip-child"], {"urls": servers.urls, "seconds": args.seconds,
                                                "model": str(model), "workdir": str(workdir)},
                               python=args.inference_python)
                ip_rates = list(theirs["rates"].values()) or [0.0]
                line["ip_min_rate"] = min(ip_rates) if len(ip_rates) == k else 0.0
                line["ip_mean_rate"] = sum(ip_rates) / k
                line["ip_rss_mb"] = theirs["rss_mb"]
                print(f"K={k}: InferencePipeline 0.59.1 predictions per camera min "
                      f"{line['ip_min_rate']:.2f}/s mean {line['ip_mean_rate']:.2f}/s; RSS "
                      f"{theirs['rss_mb']:.0f} MB", flush=True)
            table.append(line)
        finally:
            servers.close()
    markdown = ["| K | detections/s per camera (min / mean) | while people walk (min) | while its watched area moves (min) | latency p50 / p99 | CPU cores | RSS MB | reference events kept |"
                + (" InferencePipeline per camera (min / mean) |" if args.inference_python else ""),
                "|---|---|---|---|---|---|---|---|" + ("---|" if args.inference_python else "")]
    for line in table:
        row = (f"| {line['K']} | {line['min_rate']:.2f} / {line['mean_rate']:.2f} | {line['min_moving_rate']:.2f} | "
               f"{line['min_area_rate']:.2f} | {line['p50_s']:.2f} / {line['p99_s']:.2f} s | {line['cpu_cores']:.2f} | {line['rss_mb']:.0f} | "
               f"{line['kept']}/{line['due']} |")
        if "ip_min_rate" in line:
            row += f" {line['ip_min_rate']:.2f} / {line['ip_mean_rate']:.2f} |"
        markdown.append(row)
    print("\n" + "\n".join(markdown))
    if args.publish:
        page = publish(f"cameras-per-box-{args.clip}", f"Cameras per box, the {args.clip} clip",
                       f"{setup}.\n\n" + "\n".join(markdown))
        print(f"published {page.relative_to(ROOT)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
