"""Side-by-side timing for the benchmarks (benchmarks/timing.py): the things compared run in
turn, round after round, after one warm-up call each, and the ratio of their medians is
judged against the target."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import timing  # benchmarks/timing.py, loaded by conftest.py


def test_the_calls_take_turns_after_one_warm_up_each() -> None:
    order: list[str] = []

    def call(name: str) -> Callable[[int], str]:
        def one(index: int) -> str:
            order.append(f"{name}{index}")
            return f"{name}:{index}"
        return one

    seconds, answers = timing.interleaved([call("a"), call("b")], 3)

    assert order == ["a0", "b0", "a0", "b0", "a1", "b1", "a2", "b2"]
    assert answers == [["a:0", "a:1", "a:2"], ["b:0", "b:1", "b:2"]]
    assert [len(spent) for spent in seconds] == [3, 3]
    assert all(value >= 0 for spent in seconds for value in spent)


def test_the_ratio_of_medians_is_printed_against_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    ratio = timing.report_ratio(("alone (median): {}", [10.0, 8.0, 9.0]),
                                ("watched (median): {}", [8.5, 9.0, 100.0]), "ratio", 0.98)
    assert ratio == 1.0
    assert capsys.readouterr().out.splitlines() == [
        "alone (median): 9.00", "watched (median): 9.00",
        "ratio: 1.000  (target >= 0.98: met)"]
    timing.report_ratio(("a {}", [10.0]), ("b {}", [9.0]), "ratio", 0.95)
    assert capsys.readouterr().out.splitlines()[-1] == "ratio: 0.900  (target >= 0.95: NOT met)"
