"""How the benchmarks time two or more things side by side on a shared machine: in turn,
round after round (A B C A B C ...), so load from other processes hits all alike, and
compared by their medians, not by single runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def interleaved(calls: Sequence[Callable[[int], T]], rounds: int) -> tuple[list[list[float]], list[list[T]]]:
    """Each call once to warm up (with round 0's input), then ``rounds`` rounds calling
    each in turn with the round's index: the seconds of every timed call and what it
    returned, per call."""
    for call in calls:
        call(0)
    seconds: list[list[float]] = [[] for _ in calls]
    answers: list[list[T]] = [[] for _ in calls]
    for index in range(rounds):
        for spent, kept, call in zip(seconds, answers, calls):
            started = time.perf_counter()
            answer = call(index)
            spent.append(time.perf_counter() - started)
            kept.append(answer)
    return seconds, answers


def report_ratio(base: tuple[str, list[float]], other: tuple[str, list[float]], ratio_line: str,
                 target: float) -> float:
    """Prints the median of each side (``base``/``other``: a line with ``{}`` where the
    median goes, and the runs) and ``other``'s ratio to ``base`` against ``target``."""
    low, high = statistics.median(base[1]), statistics.median(other[1])
    ratio = high / low
    print(base[0].format(f"{low:.2f}"))
    print(other[0].format(f"{high:.2f}"))
    print(f"{ratio_line}: {ratio:.3f}  (target >= {target:.2f}: {'met' if ratio >= target else 'NOT met'})")
    return ratio
