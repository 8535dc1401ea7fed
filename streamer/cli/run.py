"""``streamer run`` (one camera, or every camera of a box) and ``streamer demo``: build the
pipeline, stop it cleanly on Ctrl-C or SIGTERM, print its summary."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.cli.commands import adopt_secrets, say
from streamer.errors import ConfigError
from streamer.redact import protect_handlers

if TYPE_CHECKING:
    from streamer.config import Config


def cmd_run(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.pipeline.box import config_paths

    paths = config_paths(args.config)
    if len(paths) == 1 and not paths[0].is_dir() and args.config == paths:
        # One camera: the same run as ever (its own model, its own monitor.bind).
        args.config = paths[0]
        config = load_config(args.config, check_disk=True)
        adopt_secrets(args, config)
        return _run(config, args, watch_config=args.config)
    configs = [(path, load_config(path, check_disk=True)) for path in paths]
    from streamer.config.models import config_secrets

    args.secrets = tuple(secret for _, config in configs for secret in config_secrets(config))
    protect_handlers(logging.getLogger().handlers, args.secrets)
    return _run_box(configs, args)


def cmd_demo(args: argparse.Namespace) -> int:
    from streamer.demo import demo_config

    config = demo_config(args.out, detector=args.detector, report=say)
    if args.save_video is None:
        args.save_video = args.out / "demo_annotated.mp4"
    # The demo's config is built in code: there is no file to watch.
    return _run(config, args, watch_config=None)


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
        say(f"{signal.Signals(signum).name}: {saying}")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(config: Config, args: argparse.Namespace, watch_config: Path | None) -> int:
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
                watch_config=watch_config,
            ),
            stop=stop,
            report=say,
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
            stop=stop, report=say,
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
