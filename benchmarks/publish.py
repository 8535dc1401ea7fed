"""Benchmark results onto the docs site, written by the scripts rather than typed by hand.

A script run with ``--publish`` writes ``docs/results/<name>.md``: a title, a line saying
which command wrote it, when and on what machine (CPU, cores, onnxruntime, the load average
before the run: on a shared box that says how far to trust the figures), then what the
script printed. A script imports this module as it starts, so the load average noted at
import is the machine's before the run, not the run's own.

    python benchmarks/rules.py --publish    # -> docs/results/rules.md
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = "results"  # the folder under docs/ (listed in mkdocs.yml's nav, under Benchmarks)
NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Machine:
    """What the figures were measured on."""

    cpu: str
    cores: int
    onnxruntime: str
    load: tuple[float, float, float]
    started: float = field(default_factory=time.time)

    @classmethod
    def now(cls) -> Machine:
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        return cls(_cpu_model(), os.cpu_count() or 1, _version("onnxruntime"),
                   (round(load[0], 2), round(load[1], 2), round(load[2], 2)))


BEFORE = Machine.now()  # noted when a script imports this module: before its run


def command_line(argv: list[str] | None = None) -> str:
    """The command as one would type it again from the repository's root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve() if argv else ROOT / "benchmarks"
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = script.name
    return shlex.join(["python", shown, *argv[1:]])


def header(title: str, command: str, machine: Machine, written: float) -> str:
    script = next((word for word in shlex.split(command) if word.endswith(".py")), command)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(written))
    load = " / ".join(f"{value:.2f}" for value in machine.load)
    return (f"# {title}\n\n"
            f"Written by `{script}`, not by hand: `{command}`, {when}, on {machine.cpu} "
            f"({machine.cores} cores), onnxruntime {machine.onnxruntime}, load average "
            f"{load} (1 / 5 / 15 min) before the run. Run the command again to refresh "
            "this page.\n")


def publish(name: str, title: str, markdown: str, *, docs: Path | None = None,
            machine: Machine | None = None, command: str | None = None,
            written: float | None = None) -> Path:
    """Writes ``docs/results/<name>.md`` in one step (a reader or a site build never sees
    half a page) and returns its path."""
    if not NAME.fullmatch(name):
        raise ValueError(f"results page name {name!r}: lower-case letters, digits and '-'")
    folder = (docs or DOCS) / RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    text = (header(title, command or command_line(), machine or BEFORE,
                   time.time() if written is None else written)
            + "\n" + markdown.strip("\n") + "\n")
    target = folder / f"{name}.md"
    handle, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(partial, 0o644)  # mkstemp's 0600 would hide the page from the site's server
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def text_block(text: str) -> str:
    """What a script printed, as a fenced block that keeps its columns."""
    fence = "````" if "```" in text else "```"
    return f"{fence}text\n{text.strip(chr(10))}\n{fence}\n"


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = [columns, ["---"] * len(columns), *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines) + "\n"


_SUMMARIES: list[str] = []


def summary(markdown: str) -> None:
    """Markdown (a table of what a script printed as columns) for the top of its results
    page, above the printed output; :func:`run` publishes it."""
    _SUMMARIES.append(markdown.strip("\n") + "\n")


class Transcript:
    """Everything printed while it is open, shown as usual and kept for the page."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._shown: TextIO = sys.stdout

    def __enter__(self) -> Transcript:
        self._shown = sys.stdout
        sys.stdout = self  # type: ignore[assignment]  # a text stream in all that print uses
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self._shown

    def write(self, text: str) -> int:
        self._parts.append(text)
        return self._shown.write(text)

    def flush(self) -> None:
        self._shown.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno: the real stream's
        return getattr(self._shown, name)

    @property
    def text(self) -> str:
        return "".join(self._parts)


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--publish", action="store_true",
                        help="also write the results page, docs/results/<name>.md, for the docs site")


def run(main: Callable[[], int | None], name: str, title: str) -> int:
    """Runs a script's ``main``; with ``--publish`` (declared by its parser through
    :func:`add_flag`) what it printed becomes ``docs/results/<name>.md``."""
    _SUMMARIES.clear()
    with Transcript() as printed:
        code = main() or 0
    if code == 0 and "--publish" in sys.argv[1:]:
        printout = text_block(printed.text)
        markdown = "\n".join([*_SUMMARIES, "## What it printed\n", printout]) if _SUMMARIES else printout
        page = publish(name, title, markdown)
        print(f"published {page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}")
    return code
