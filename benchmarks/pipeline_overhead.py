"""Model-only fps vs full-pipeline fps on the same video and model, side by side.

Model-only: ``OnnxDetector.detect`` over frames already decoded into memory (letterbox,
inference, decoding, NMS): the ceiling on this machine. Full pipeline: ``build_pipeline`` on the
same file with capture, tracking, the demo's zone rules and a JSONL event sink. The two
are interleaved (A B A B ...) so drift on a shared machine hits both alike, and the
medians are compared. Target: ratio >= 0.95.

    python benchmarks/pipeline_overhead.py [--frames 250] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
from publish import add_flag, run
from timing import report_ratio

from streamer.assets import person_model, sample_video
from streamer.config.models import OnnxModelConfig
from streamer.demo import demo_config
from streamer.detect.onnx import OnnxDetector
from streamer.pipeline import RunOptions, build_pipeline
from streamer.source.frame import Frame


def load_frames(video: Path, limit: int) -> list[Frame]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        index = len(frames)
        frames.append(Frame(image=image, index=index, t_s=index / 25.0, wall_ts=time.time()))
    capture.release()
    return frames


def model_only_fps(detector: OnnxDetector, frames: list[Frame]) -> float:
    detector.detect(frames[0])  # warm-up, as the pipeline's first frame is not timed apart
    started = time.perf_counter()
    for frame in frames:
        detector.detect(frame)
    return len(frames) / (time.perf_counter() - started)


def pipeline_fps(out: Path, frames: int, threads: int | None) -> tuple[float, int]:
    config = demo_config(out, report=lambda line: None, clips=False)
    model = config.models[0]
    assert isinstance(model, OnnxModelConfig)
    config = config.model_copy(update={"models": [model.model_copy(update={"threads": threads})]})
    summary = build_pipeline(
        config, RunOptions(max_frames=frames, drain_s=2.0, progress_s=3600), report=lambda line: None
    ).run()
    return summary.fps, summary.events_accepted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250, help="frames per pass (bikes.mp4 has 250)")
    parser.add_argument("--repeats", type=int, default=2, help="passes of each kind")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all)")
    add_flag(parser)
    args = parser.parse_args()

    video = sample_video()
    frames = load_frames(video, args.frames)
    config = OnnxModelConfig(
        kind="onnx", id="people", path=person_model(), confidence=0.5,
        class_map={"Normal": "person", "Fall": "person"}, threads=args.threads,
    )
    detector = OnnxDetector(config)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"video {video.name}, {len(frames)} frames; threads {args.threads or 'default'}")

    model_runs: list[float] = []
    pipeline_runs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeats):
            model_runs.append(model_only_fps(detector, frames))
            fps, events = pipeline_fps(Path(tmp) / f"run{attempt}", len(frames), args.threads)
            pipeline_runs.append(fps)
            print(f"pass {attempt + 1}: model-only {model_runs[-1]:.2f} fps, "
                  f"pipeline {fps:.2f} fps ({events} events)")
    detector.close()

    report_ratio(("model-only fps (median): {}", model_runs),
                 ("full pipeline fps (median): {}  [capture + detect + track + rules + events]", pipeline_runs),
                 "ratio pipeline / model-only", 0.95)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main, "pipeline-overhead", "Model-only fps against the full pipeline"))
