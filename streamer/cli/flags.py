"""How the CLI declares a command, and the types of its flags: each type turns one string
into a value or raises :class:`argparse.ArgumentTypeError`, which argparse prints as a usage
error (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def command(
    sub: Commands, name: str, help_text: str, func: Callable[[argparse.Namespace], int],
    *, config: bool = True,
) -> argparse.ArgumentParser:
    """Declare ``streamer NAME``, run by ``func``; most commands read one config file."""
    parser = sub.add_parser(name, help=help_text)
    if config:
        parser.add_argument("config", type=Path)
    parser.set_defaults(func=func)
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def grid_step(text: str) -> float:
    value = float(text)
    if not 0.02 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0.02 and 0.5, got {text}")
    return value


def frame_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 1280x720, got {text}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text}")
    return width, height


def iso_time(text: str) -> float:
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ISO-8601, e.g. 2026-01-05T08:00:00Z, got {text}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
