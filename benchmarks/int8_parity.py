"""int8 against fp32 on a busy scene and a sparse one: parity on frames never used to make
the copy, and the milliseconds per inference of each, measured side by side.

For each clip (vtest.avi: a plaza, ~2.6 people a frame; bikes.mp4: the demo clip, ~0.4) the
int8 copy is made as ``streamer optimize`` makes it, from ``--frames`` frames spread over the
clip (a quarter calibrates, the rest choose and judge the threshold: its own verdict is
printed). Then fp32 and int8 run on ``--eval`` other frames of the clip, none of them read
while making the copy: recall of fp32's boxes (IoU >= 0.5), precision, box count ratio at
int8's own threshold, and the same at fp32's threshold. Timing interleaves the two sessions
on those frames (fp32, int8, fp32, ...), so load from other processes hits both alike;
medians and their ratio are printed.

    nice -n 10 python benchmarks/int8_parity.py [--frames 160] [--eval 100] [--clips vtest,bikes]

Copies are cached under ``--cache`` (default: a folder in the system temp dir), so a rerun
only measures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from publish import add_flag, markdown_table, run, summary
from timing import interleaved

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.assets import busy_video, person_model, sample_video  # noqa: E402


def held_out_frames(video: Path, used: int, count: int) -> tuple[list[np.ndarray], int]:
    """``count`` frames of ``video`` spread over it and not among the ``used`` frames the
    copy was made from (those are spread over the clip the same way)."""
    from streamer.detect.int8.frames import _spread

    capture = cv2.VideoCapture(str(video))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    taken = set(_spread(total, used))
    free = [i for i in range(total) if i not in taken]
    wanted = {free[int(i)] for i in np.linspace(0, len(free) - 1, min(count, len(free)))}
    frames = []
    for index in range(total):
        if not capture.grab():
            break
        if index in wanted:
            ok, image = capture.retrieve()
            if ok:
                frames.append(image)
    capture.release()
    return frames, total


def measure(name: str, video: Path, args: argparse.Namespace) -> dict[str, float]:
    import onnxruntime as ort

    from streamer.detect.int8 import format_report, parity
    from streamer.detect.onnx import OnnxDetector, OnnxModelConfig

    config = OnnxModelConfig(
        kind="onnx", id="people", path=person_model(), precision="fp32", calibration=video,
        calibration_frames=args.frames, calibration_methods=["minmax"], confidence=0.5,
        class_map={"Normal": "person", "Fall": "person"}, fit_input=False,
    )
    detector = OnnxDetector(config)
    started = time.perf_counter()
    plan = detector.int8_plan()
    made = time.perf_counter() - started
    origin = f"made in {made:.0f} s" if plan.calibrated_now else "from the cache"
    print(f"\n== {name}: {video.name}; int8 copy {origin}"
          f" ({plan.path})")
    for line in format_report(plan.report):
        print(line)
    verdict = plan.verdict(config.int8_min_recall, config.int8_max_count_error)
    print(f"  streamer's own verdict: {'int8 passes' if verdict is None else 'keeps fp32: ' + verdict}")

    frames, total = held_out_frames(video, args.frames, args.eval)
    blobs = [detector._preprocess(frame)[0] for frame in frames]
    fp32 = detector._session
    int8 = ort.InferenceSession(str(plan.path), detector.spec.options(),
                                providers=["CPUExecutionProvider"])
    input_name = fp32.get_inputs()[0].name
    seconds, outputs = interleaved(
        [lambda i, s=session: s.run(None, {input_name: blobs[i]})[0][0] for session in (fp32, int8)],
        len(blobs))
    times = {"fp32": seconds[0], "int8": seconds[1]}
    raws: dict[str, list[np.ndarray]] = {"fp32": outputs[0], "int8": outputs[1]}
    reference = [detector._decode(raw, config.confidence) for raw in raws["fp32"]]
    own = parity(reference, [detector._decode(raw, plan.confidence) for raw in raws["int8"]],
                 detector.judged_names())
    same = parity(reference, [detector._decode(raw, config.confidence) for raw in raws["int8"]],
                  detector.judged_names())
    fp32_ms = statistics.median(times["fp32"]) * 1000
    int8_ms = statistics.median(times["int8"]) * 1000
    print(f"  held out: {len(frames)} of {total} frames, none read to make the copy; fp32 "
          f"{own['fp32_boxes']} boxes ({own['fp32_boxes'] / max(len(frames), 1):.2f} a frame)")
    print(f"  int8 at its threshold {plan.confidence:.4f}: recall {own['recall']:.3f}, precision "
          f"{own['precision']:.3f}, count {own['count_ratio']:.3f}x, mean IoU {own['mean_iou']:.3f}")
    print(f"  int8 at fp32's {config.confidence}: recall {same['recall']:.3f}, count "
          f"{same['count_ratio']:.3f}x")
    print(f"  per inference, interleaved, median: fp32 {fp32_ms:.1f} ms, int8 {int8_ms:.1f} ms "
          f"({fp32_ms / int8_ms:.2f}x)")
    detector.close()
    return {"recall": own["recall"], "count": own["count_ratio"], "speedup": fp32_ms / int8_ms,
            "fp32_ms": fp32_ms, "int8_ms": int8_ms, "passes": verdict is None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=160,
                        help="frames read to make each copy (streamer's default)")
    parser.add_argument("--eval", type=int, default=100, help="held-out frames judged per clip")
    parser.add_argument("--clips", default="vtest,bikes", help="vtest, bikes or both")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "streamer-int8-bench",
                        help="where the int8 copies are kept between runs")
    add_flag(parser)
    args = parser.parse_args()
    os.environ["STREAMER_CACHE"] = str(args.cache)
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = [flag for flag in ("avx512_vnni", "avx_vnni", "amx_int8") if f" {flag}" in flags]
    print(f"CPU int8 instructions: {', '.join(isa) or 'none of avx512_vnni, avx_vnni, amx_int8'};"
          f" {os.cpu_count()} cores")
    clips = {"vtest": busy_video, "bikes": sample_video}
    results = {}
    for name in args.clips.split(","):
        results[name] = measure(name, clips[name](), args)
    print("\nclip    recall  count   fp32 ms  int8 ms  speedup  streamer's gate")
    for name, row in results.items():
        print(f"{name:<8}{row['recall']:.3f}  {row['count']:.3f}  {row['fp32_ms']:7.1f}  "
              f"{row['int8_ms']:7.1f}  {row['speedup']:6.2f}x  "
              f"{'int8' if row['passes'] else 'fp32 (parity short)'}")
    summary(markdown_table(
        ("clip", "recall", "count", "fp32 ms", "int8 ms", "speedup", "streamer's gate"),
        [(name, f"{row['recall']:.3f}", f"{row['count']:.3f}", f"{row['fp32_ms']:.1f}",
          f"{row['int8_ms']:.1f}", f"{row['speedup']:.2f}x",
          "int8" if row["passes"] else "fp32 (parity short)") for name, row in results.items()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main, "int8-parity", "int8 against fp32: parity and speed"))
