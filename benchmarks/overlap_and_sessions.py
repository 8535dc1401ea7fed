"""Two questions for the frame loop, measured side by side on bikes.mp4 and the person model:

1. Overlap: does letterboxing frame N+1 on another thread while frame N is inferred help?
   (Decoding already runs on the capture thread.) Three loops over the same frames,
   interleaved A B C A B C ...: ``serial`` decodes, letterboxes and infers on one thread;
   ``decode-ahead`` (what streamer does) decodes on a second thread, the loop letterboxes
   and infers; ``letterbox-ahead`` decodes and letterboxes on the second thread.
2. onnxruntime session options: graph optimisation level and intra-op threads, fp32 and
   int8, per inference (best and median of interleaved rounds).

    python benchmarks/overlap_and_sessions.py [--frames 60] [--repeats 3] [--int8 PATH]

``--int8``: an int8 copy made by ``streamer optimize`` (its path is printed there); without
it only fp32 is timed. On a shared machine trust the ratios within one run, not the fps.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from publish import add_flag, run
from timing import interleaved

from streamer.assets import person_model, sample_video
from streamer.detect.onnx import GRAPH_OPTIMIZATION, OnnxDetector, OnnxModelConfig

END = object()


def frames_of(video: Path, limit: int) -> Callable[[], np.ndarray | None]:
    capture = cv2.VideoCapture(str(video))
    left = [limit]

    def read() -> np.ndarray | None:
        if left[0] <= 0:
            capture.release()
            return None
        left[0] -= 1
        ok, image = capture.read()
        return image if ok else None

    return read


def ahead(produce: Callable[[], object | None]) -> Callable[[], object | None]:
    """``produce`` run on a second thread, two items ahead of the consumer."""
    items: queue.Queue[object] = queue.Queue(maxsize=2)

    def work() -> None:
        while (item := produce()) is not None:
            items.put(item)
        items.put(END)

    threading.Thread(target=work, daemon=True).start()
    return lambda: None if (item := items.get()) is END else item


def loop_fps(kind: str, video: Path, frames: int, detector: OnnxDetector,
             session: ort.InferenceSession, input_name: str) -> float:
    letterbox = lambda image: detector._preprocess(image)[0]  # noqa: E731
    read = frames_of(video, frames)
    started = time.perf_counter()
    if kind == "serial":
        next_blob = lambda: None if (image := read()) is None else letterbox(image)  # noqa: E731
    elif kind == "decode-ahead":
        next_image = ahead(read)
        next_blob = lambda: None if (image := next_image()) is None else letterbox(image)  # noqa: E731
    else:
        next_blob = ahead(lambda: None if (image := read()) is None else letterbox(image))
    count = 0
    while (blob := next_blob()) is not None:
        session.run(None, {input_name: blob})
        count += 1
    return count / (time.perf_counter() - started)


def session(path: Path, level: str, threads: int | None,
            parallel: bool = False) -> ort.InferenceSession:
    """streamer's session (sequential, one inter-op thread), or onnxruntime's parallel
    executor with two inter-op threads (independent branches of the graph side by side)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = GRAPH_OPTIMIZATION[level]
    options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if parallel
                              else ort.ExecutionMode.ORT_SEQUENTIAL)
    options.inter_op_num_threads = 2 if parallel else 1
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--int8", type=Path, default=None, help="an int8 copy to time too")
    add_flag(parser)
    args = parser.parse_args()
    video, weights = sample_video(), person_model()
    detector = OnnxDetector(OnnxModelConfig(kind="onnx", id="people", path=weights))
    models = {"fp32": weights, **({"int8": args.int8} if args.int8 else {})}

    print(f"1. overlap ({args.frames} frames, {args.repeats} interleaved passes, default threads)")
    kinds = ("serial", "decode-ahead", "letterbox-ahead")
    for name, path in models.items():
        sess = session(path, "all", None)
        input_name = sess.get_inputs()[0].name
        fps: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.repeats):
            for kind in kinds:
                fps[kind].append(loop_fps(kind, video, args.frames, detector, sess, input_name))
        base = statistics.median(fps["decode-ahead"])
        for kind in kinds:
            value = statistics.median(fps[kind])
            print(f"  {name:5} {kind:16} {value:6.2f} fps  ({value / base:.3f}x decode-ahead)")

    print("2. session options (ms per inference: best / median of interleaved rounds)")
    feed = detector._preprocess(frames_of(video, 1)())[0]
    variants = [(name, level, threads, False) for name in models
                for level in ("basic", "extended", "all") for threads in (None, 1)]
    variants += [(name, "all", None, True) for name in models]
    sessions = [session(models[name], level, threads, parallel)
                for name, level, threads, parallel in variants]
    times, _ = interleaved([lambda i, s=sess: s.run(None, {s.get_inputs()[0].name: feed})
                            for sess in sessions], max(5, args.repeats * 3))
    for (name, level, threads, parallel), spent in zip(variants, times):
        print(f"  {name:5} graph {level:9} threads {threads or 'all cores':9} "
              f"{'parallel, 2 inter-op' if parallel else 'sequential':21}"
              f"{min(spent) * 1000:6.1f} / {statistics.median(spent) * 1000:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main, "overlap-and-sessions", "Frame-loop overlap and onnxruntime session options"))
