"""Command line: ``streamer run | demo | replay | validate | snapshot | optimize | events | schema |
camera | doctor``.

``run``, ``demo`` and ``replay`` all go through :func:`streamer.pipeline.build_pipeline`.

User errors (:class:`StreamerError`) print one ``error:`` line and exit non-zero without
a traceback; ``validate`` exits 0 for a good file and 2 for a bad one.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamer.config import Config

# Quiet OpenCV's and FFmpeg's own stderr chatter before cv2 is first imported: our
# errors say what failed in one line; theirs would bury it.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from streamer.errors import ConfigError, StreamerError  # noqa: E402
from streamer.redact import protect_handlers, redact  # noqa: E402

log = logging.getLogger("streamer")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Commands that load a config put its secrets here, so the last line masks them too.
    args.secrets = ()
    _setup_logging(args.verbose)
    previous_hook = threading.excepthook
    # A thread's uncaught traceback goes through the redacting log handler, not raw to stderr.
    threading.excepthook = _log_thread_crash
    try:
        return int(args.func(args))
    except StreamerError as exc:
        print(f"error: {redact(exc, args.secrets)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `streamer events ls | head`: the reader had enough. A normal end for a CLI, as
        # for any Unix tool killed by SIGPIPE: quiet, with the shell's code for it.
        _quiet_stdout()
        return SIGPIPE_EXIT
    except Exception:  # a bug: keep its traceback, but through the redacting handler
        log.critical("internal error (please report it)", exc_info=True)
        return 1
    finally:
        threading.excepthook = previous_hook


SIGPIPE_EXIT = 128 + 13  # what a shell reports for a program ended by SIGPIPE


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _log_thread_crash(hook: threading.ExceptHookArgs) -> None:
    name = hook.thread.name if hook.thread is not None else "?"
    log.critical(
        "thread %s crashed", name, exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback)
    )


def _adopt_secrets(args: argparse.Namespace, config: Config) -> None:
    """Mask this config's secrets in every log line and in the closing error line."""
    from streamer.config.models import config_secrets

    args.secrets = config_secrets(config)
    protect_handlers(logging.getLogger().handlers, args.secrets)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description="Detect events in a video stream with YAML rules and deliver them durably.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser(
        "validate", help="check a config file, or a box's (several, or a folder) (exit 0 good, 2 bad)"
    )
    validate.add_argument("config", type=Path, nargs="+")
    validate.set_defaults(func=_cmd_validate)

    snapshot = commands.add_parser(
        "snapshot",
        help="save one frame of the camera with a coordinate grid (fractions and pixels) "
        "and the config's zones and lines, to write or check places",
    )
    snapshot.add_argument("config", type=Path)
    snapshot.add_argument("-o", "--output", type=Path, default=Path("frame.jpg"),
                          help="picture to write (default: frame.jpg)")
    snapshot.add_argument("--grid", type=_grid_step, default=0.1,
                          help="grid spacing as a fraction of the frame (default 0.1)")
    snapshot.set_defaults(func=_cmd_snapshot)

    run = commands.add_parser(
        "run", help="run a camera's pipeline; with several configs (or a folder of them), "
        "every camera of the box in one process sharing the model",
    )
    run.add_argument("config", type=Path, nargs="+", help="a camera's config, several, or a folder")
    _run_flags(run)
    run.add_argument(
        "--inference-workers", type=_positive_int,
        help="several cameras: inference calls run side by side (default: one per core, at "
        "most one per camera)",
    )
    run.add_argument(
        "--inference-threads", type=_positive_int,
        help="several cameras: onnxruntime threads per inference call (default: the cores "
        "divided among the workers)",
    )
    run.set_defaults(func=_cmd_run)

    demo = commands.add_parser(
        "demo",
        help="run the embedded demo: a sample video, a person detector, zone rules "
        "(no config, key or camera needed)",
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
    demo.set_defaults(func=_cmd_demo)

    replay = commands.add_parser(
        "replay",
        help="run the rules over recorded detections as fast as possible and print the "
        "events they fire (tune zones and timings without a model)",
    )
    replay.add_argument("config", type=Path)
    replay.add_argument(
        "--detections", type=Path, required=True, help="replay JSONL (from --record-detections)"
    )
    replay.add_argument("--video", type=Path, help="the recorded video: frame size, fps, snapshots")
    replay.add_argument("--size", type=_size, help="frame size WxH when there is no video file")
    replay.add_argument("--fps", type=_positive_float, help="frame rate (default: the video's)")
    replay.add_argument(
        "--start-time",
        type=_iso_time,
        help="UTC wall time of frame 0 for schedules, ISO-8601 (default: now)",
    )
    replay.add_argument("--send", action="store_true", help="also hand the events to the sinks")
    replay.set_defaults(func=_cmd_replay)

    doctor = commands.add_parser(
        "doctor",
        help="print what this box offers: CPU features, onnxruntime providers, GPU and its "
        "memory, video decoders, free disk, the cache's size",
    )
    doctor.add_argument(
        "--cache-dir", type=Path,
        help="the cache to measure (default: $STREAMER_CACHE, else ~/.cache/streamer)",
    )
    doctor.set_defaults(func=_cmd_doctor)

    camera = commands.add_parser("camera", help="the camera's reference view (tamper checks)")
    camera_commands = camera.add_subparsers(dest="camera_command", required=True)
    reference = camera_commands.add_parser(
        "reference",
        help="this view is right: take the camera's picture now as its reference view "
        "(a running streamer on the same outbox uses it at its next check)",
    )
    reference.add_argument("config", type=Path)
    reference.set_defaults(func=_cmd_camera_reference)

    schema = commands.add_parser(
        "schema",
        help="print the config's JSON Schema (for editor completion), or its reference page",
    )
    schema.add_argument(
        "--markdown", action="store_true", help="the Markdown reference instead of JSON Schema"
    )
    schema.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    schema.set_defaults(func=_cmd_schema)

    from streamer.events.commands import add_events_commands

    add_events_commands(commands)
    from streamer.optimize import add_optimize_command

    add_optimize_command(commands)
    return parser


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-frames", type=_positive_int, help="stop after N frames")
    parser.add_argument("--duration", type=_positive_float, help="stop after S seconds")
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


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _grid_step(text: str) -> float:
    value = float(text)
    if not 0.02 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0.02 and 0.5, got {text}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 1280x720, got {text}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text}")
    return width, height


def _iso_time(text: str) -> float:
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ISO-8601, e.g. 2026-01-05T08:00:00Z, got {text}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # Until a config is loaded, URLs, key=value secrets and Bearer tokens by pattern.
    protect_handlers(logging.getLogger().handlers)
    # httpx logs every request at INFO; keep that for --verbose.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _cmd_validate(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.pipeline.box import check_box, config_paths

    configs = [(path, load_config(path, check_disk=True)) for path in config_paths(args.config)]
    if len(configs) > 1:
        check_box(configs)  # what a box refuses: two cameras with one id or one outbox
    for path, config in configs:
        rules = len(config.rules)
        print(
            f"{path}: ok — camera {config.camera.id!r}, {len(config.models)} model(s), "
            f"{len(config.zones)} zone(s), {rules} rule(s), {len(config.sinks)} sink(s)"
        )
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from streamer.doctor import print_report

    return print_report(args.cache_dir)


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.snapshot import snapshot

    config = load_config(args.config)
    _adopt_secrets(args, config)
    width, height = snapshot(config, args.output, args.grid)
    print(f"{args.output}: {width}x{height} px, {len(config.zones)} zone(s), "
          f"{len(config.lines)} line(s); grid every {args.grid:g} of the frame")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from streamer.config.reference import schema_text

    text = schema_text(markdown=args.markdown)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise StreamerError(f"cannot write {args.output}: {err.strerror or err}") from err
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.pipeline.box import config_paths

    paths = config_paths(args.config)
    if len(paths) == 1 and not paths[0].is_dir() and args.config == paths:
        # One camera: the same run as ever (its own model, its own monitor.bind).
        args.config = paths[0]
        config = load_config(args.config, check_disk=True)
        _adopt_secrets(args, config)
        return _run(config, args)
    configs = [(path, load_config(path, check_disk=True)) for path in paths]
    from streamer.config.models import config_secrets

    args.secrets = tuple(secret for _, config in configs for secret in config_secrets(config))
    protect_handlers(logging.getLogger().handlers, args.secrets)
    return _run_box(configs, args)


def _cmd_camera_reference(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.pipeline.camera import take_camera_reference

    config = load_config(args.config)
    _adopt_secrets(args, config)
    path, frame = take_camera_reference(config)
    height, width = frame.image.shape[:2]
    print(f"camera {config.camera.id}: reference view taken ({width}x{height}, "
          f"{len(config.zones)} zone(s), {len(config.lines)} line(s)): {path}")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    import time

    from streamer.config import load_config
    from streamer.replay import event_row, format_table, frame_geometry, run_replay

    config = load_config(args.config)
    _adopt_secrets(args, config)
    width, height, fps = frame_geometry(config, args.video, args.size, args.fps)
    start = args.start_time if args.start_time is not None else time.time()
    result = run_replay(
        config, args.detections, width, height, fps, start,
        send=args.send, video=args.video, report=_say if args.send else None,
    )
    for line in format_table([event_row(item) for item in result.events]):
        print(line)
    print(
        f"{len(result.events)} event(s) at {width}x{height}, {fps:g} fps; "
        f"rules ran in {result.elapsed_s:.2f} s",
        file=sys.stderr,
    )
    if args.send:
        shown = ", ".join(f"{name}: {n}" for name, n in sorted(result.delivered.items()))
        print(f"delivered: {shown or 'no sinks configured'}", file=sys.stderr)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from streamer.demo import demo_config

    config = demo_config(args.out, detector=args.detector, report=_say)
    if args.save_video is None:
        args.save_video = args.out / "demo_annotated.mp4"
    return _run(config, args)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _with_monitor_flag(config: Config, flag: str | None) -> Config:
    """Apply ``--monitor`` through the same validation as the config file's section."""
    if flag is None:
        return config
    from pydantic import ValidationError

    from streamer.config.models import MonitorConfig

    settings = dict(config.monitor)
    if flag.lower() == "off":
        settings["enabled"] = False
    else:
        settings.update(enabled=True, bind=flag)
    try:
        monitor = MonitorConfig.model_validate(settings)
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"--monitor {flag}: {message}") from None
    return config.model_copy(update={"monitor": monitor})


@contextmanager
def _stop_on_signals(saying: str) -> Iterator[threading.Event]:
    """An Event set by the first SIGINT/SIGTERM (which says ``saying``); a second Ctrl-C
    raises KeyboardInterrupt to stop waiting. The previous handlers come back on exit."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting
        _say(f"{signal.Signals(signum).name}: {saying}")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(config: Config, args: argparse.Namespace) -> int:
    from streamer.pipeline import RunOptions, build_pipeline

    config = _with_monitor_flag(config, args.monitor)
    with _stop_on_signals("stopping; accepted events stay in the outbox") as stop:
        pipeline = build_pipeline(
            config,
            RunOptions(
                max_frames=args.max_frames,
                duration_s=args.duration,
                save_video=args.save_video,
                record_detections=args.record_detections,
                drain_s=args.drain_s,
                progress_s=args.progress_s,
                # `run` watches its config file; the demo's config is built in code.
                watch_config=getattr(args, "config", None),
            ),
            stop=stop,
            report=_say,
        )
        summary = pipeline.run()
    if summary.recent_events:
        print("latest events:")
        for line in summary.recent_events[-10:]:
            print(f"  {line}")
    print("summary:")
    for line in summary.lines():
        print(f"  {line}")
    return 0


def _run_box(configs: list[tuple[Path, Config]], args: argparse.Namespace) -> int:
    """Every camera of the box in this process: one model per distinct model, one page."""
    from streamer.pipeline import RunOptions
    from streamer.pipeline.box import Box

    for flag, value in (("--save-video", args.save_video), ("--record-detections", args.record_detections)):
        if value is not None:
            raise ConfigError(f"{flag}: writes one camera's output; run that camera's config alone")
    with _stop_on_signals("stopping every camera; accepted events stay in their outboxes") as stop:
        box = Box(
            configs,
            RunOptions(max_frames=args.max_frames, duration_s=args.duration, drain_s=args.drain_s,
                       progress_s=args.progress_s),
            stop=stop, report=_say,
            # The box's page: the first camera's monitor section (or --monitor).
            monitor=_with_monitor_flag(configs[0][1], args.monitor),
            workers=args.inference_workers, threads=args.inference_threads,
        )
        cameras = box.run()
    failed = 0
    for camera in cameras:
        summary = camera.summary
        print(f"camera {camera.id} ({camera.path}):")
        if camera.error:
            failed += 1
            print(f"  stopped by an error: {camera.error}")
        if summary is None:
            continue
        for line in summary.recent_events[-10:]:
            print(f"  event: {line}")
        for line in summary.lines():
            print(f"  {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
