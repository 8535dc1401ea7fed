"""Argument types for the CLI's flags: each turns one string into a value or raises
:class:`argparse.ArgumentTypeError`, which argparse prints as a usage error (exit 2)."""

from __future__ import annotations

import argparse


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
