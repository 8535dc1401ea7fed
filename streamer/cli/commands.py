"""The CLI's one-shot commands: ``validate``, ``snapshot``, ``schema``, ``camera reference``
and ``replay``. Each loads what it needs inside the function, so ``streamer --help`` stays
quick and a command never pays for another's imports."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from streamer.errors import StreamerError
from streamer.redact import protect_handlers

if TYPE_CHECKING:
    from streamer.config import Config


def say(line: str) -> None:
    """A progress line for the person at the terminal (stderr, so stdout stays the result)."""
    print(line, file=sys.stderr, flush=True)


def adopt_secrets(args: argparse.Namespace, config: Config) -> None:
    """Mask this config's secrets in every log line and in the closing error line."""
    from streamer.config.models import config_secrets

    args.secrets = config_secrets(config)
    protect_handlers(logging.getLogger().handlers, args.secrets)


def cmd_validate(args: argparse.Namespace) -> int:
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


def cmd_snapshot(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.snapshot import snapshot

    config = load_config(args.config)
    adopt_secrets(args, config)
    width, height = snapshot(config, args.output, args.grid)
    print(f"{args.output}: {width}x{height} px, {len(config.zones)} zone(s), "
          f"{len(config.lines)} line(s); grid every {args.grid:g} of the frame")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
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


def cmd_camera_reference(args: argparse.Namespace) -> int:
    from streamer.config import load_config
    from streamer.pipeline.camera import take_camera_reference

    config = load_config(args.config)
    adopt_secrets(args, config)
    path, frame = take_camera_reference(config)
    height, width = frame.image.shape[:2]
    print(f"camera {config.camera.id}: reference view taken ({width}x{height}, "
          f"{len(config.zones)} zone(s), {len(config.lines)} line(s)): {path}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    import time

    from streamer.config import load_config
    from streamer.replay import event_row, format_table, frame_geometry, run_replay

    config = load_config(args.config)
    adopt_secrets(args, config)
    width, height, fps = frame_geometry(config, args.video, args.size, args.fps)
    start = args.start_time if args.start_time is not None else time.time()
    result = run_replay(
        config, args.detections, width, height, fps, start,
        send=args.send, video=args.video, report=say if args.send else None,
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
