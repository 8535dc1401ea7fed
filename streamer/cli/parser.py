"""The CLI's commands and flags: one ``add_*`` function per command, so each reads alone.

Each command is declared with :func:`streamer.cli.flags.command`, which names its handler;
:func:`streamer.cli.main` calls that with the parsed namespace.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.cli import commands, run
from streamer.cli.doctor import cmd_doctor
from streamer.cli.events import add_events_commands
from streamer.cli.flags import (
    command,
    frame_size,
    grid_step,
    iso_time,
    positive_float,
    positive_int,
)
from streamer.cli.optimize import add_optimize_command

if TYPE_CHECKING:
    from streamer.cli.flags import Commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description="Detect events in a video stream with YAML rules and deliver them durably.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_validate, _add_snapshot, _add_run, _add_demo, _add_replay, _add_doctor,
                _add_camera, _add_schema, add_events_commands, add_optimize_command):
        add(sub)
    return parser


def _add_validate(sub: Commands) -> None:
    validate = command(
        sub, "validate", "check a config file, or a box's (several, or a folder) (exit 0 good, 2 bad)",
        commands.cmd_validate, config=False,
    )
    validate.add_argument("config", type=Path, nargs="+")


def _add_snapshot(sub: Commands) -> None:
    snapshot = command(
        sub, "snapshot",
        "save one frame of the camera with a coordinate grid (fractions and pixels) "
        "and the config's zones and lines, to write or check places",
        commands.cmd_snapshot,
    )
    snapshot.add_argument("-o", "--output", type=Path, default=Path("frame.jpg"),
                          help="picture to write (default: frame.jpg)")
    snapshot.add_argument("--grid", type=grid_step, default=0.1,
                          help="grid spacing as a fraction of the frame (default 0.1)")


def _add_run(sub: Commands) -> None:
    parser = command(
        sub, "run", "run a camera's pipeline; with several configs (or a folder of them), "
        "every camera of the box in one process sharing the model",
        run.cmd_run, config=False,
    )
    parser.add_argument("config", type=Path, nargs="+", help="a camera's config, several, or a folder")
    _run_flags(parser)
    parser.add_argument(
        "--inference-workers", type=positive_int,
        help="several cameras: inference calls run side by side (default: one per core, at "
        "most one per camera)",
    )
    parser.add_argument(
        "--inference-threads", type=positive_int,
        help="several cameras: onnxruntime threads per inference call (default: the cores "
        "divided among the workers)",
    )


def _add_demo(sub: Commands) -> None:
    demo = command(
        sub, "demo",
        "run the embedded demo: a sample video, a person detector, zone rules "
        "(no config, key or camera needed)",
        run.cmd_demo, config=False,
    )
    _run_flags(demo)
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("streamer-demo"),
        help="folder for the demo's events, outbox and video (default: ./streamer-demo)",
    )
    demo.add_argument(
        "--detector",
        choices=("onnx", "hog"),
        default="onnx",
        help="onnx: the fetched YOLOv8 person model (default); hog: OpenCV's, no download",
    )


def _add_replay(sub: Commands) -> None:
    what = ("run the rules over recorded detections as fast as possible and print the "
            "events they fire (tune zones and timings without a model)")
    replay = command(sub, "replay", what, commands.cmd_replay)
    replay.add_argument(
        "--detections", type=Path, required=True, help="replay JSONL (from --record-detections)"
    )
    replay.add_argument("--video", type=Path, help="the recorded video: frame size, fps, snapshots")
    replay.add_argument("--size", type=frame_size, help="frame size WxH when there is no video file")
    replay.add_argument("--fps", type=positive_float, help="frame rate (default: the video's)")
    replay.add_argument(
        "--start-time",
        type=iso_time,
        help="UTC wall time of frame 0 for schedules, ISO-8601 (default: now)",
    )
    replay.add_argument("--send", action="store_true", help="also hand the events to the sinks")


def _add_doctor(sub: Commands) -> None:
    doctor = command(
        sub, "doctor",
        "print what this box offers: CPU features, onnxruntime providers, GPU and its "
        "memory, video decoders, free disk, the cache's size",
        cmd_doctor, config=False,
    )
    doctor.add_argument(
        "--cache-dir", type=Path,
        help="the cache to measure (default: $STREAMER_CACHE, else ~/.cache/streamer)",
    )


def _add_camera(sub: Commands) -> None:
    camera = sub.add_parser("camera", help="the camera's reference view (tamper checks)")
    camera_commands = camera.add_subparsers(dest="camera_command", required=True)
    reference = camera_commands.add_parser(
        "reference",
        help="this view is right: take the camera's picture now as its reference view "
        "(a running streamer on the same outbox uses it at its next check)",
    )
    reference.add_argument("config", type=Path)
    reference.set_defaults(func=commands.cmd_camera_reference)


def _add_schema(sub: Commands) -> None:
    schema = command(
        sub, "schema",
        "print the config's JSON Schema (for editor completion), or its reference page",
        commands.cmd_schema, config=False,
    )
    schema.add_argument(
        "--markdown", action="store_true", help="the Markdown reference instead of JSON Schema"
    )
    schema.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-frames", type=positive_int, help="stop after N frames")
    parser.add_argument("--duration", type=positive_float, help="stop after S seconds")
    parser.add_argument("--save-video", type=Path, help="write the annotated stream to FILE")
    parser.add_argument(
        "--record-detections", type=Path, help="write detections as replay JSONL to FILE"
    )
    parser.add_argument(
        "--drain-s",
        type=float,
        default=10.0,
        help="seconds to let sinks deliver pending events after the input ends (default 10)",
    )
    parser.add_argument(
        "--progress-s", type=float, default=5.0, help="seconds between progress lines"
    )
    parser.add_argument(
        "--monitor",
        metavar="HOST:PORT|off",
        help="serve the live monitor here instead of the config's monitor.bind (port 0: any "
        "free port; the URL is printed), or `off`",
    )
