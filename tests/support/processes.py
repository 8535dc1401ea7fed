"""A real ``streamer run`` in its own process, as a hostile tester meets it: its stderr
kept in a file (so a log flood can be measured), an optional file-descriptor limit, and
the monitor's URL read from its first lines."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import box


@dataclass
class RunningProcess:
    process: subprocess.Popen[bytes]
    log: Path
    url: str | None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def streamer_run(config: Path, *args: str, nofile: int | None = None,
                 env: dict[str, str] | None = None, want_monitor: bool = True,
                 start_s: float = 30.0) -> Iterator[RunningProcess]:
    """``python -m streamer run CONFIG ARGS`` until the block ends (then SIGTERM).

    ``nofile``: the child's soft RLIMIT_NOFILE (the usual 1,024 of a service, whatever
    the test runner has). With ``want_monitor`` it waits for the ``monitor: URL`` line."""
    log = config.parent / f"{config.stem}.stderr.log"

    def limit() -> None:
        if nofile is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamer", "run", str(config), *args],
            stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit,
            env={**os.environ, **(env or {})},
        )
    running = RunningProcess(process, log, None)
    try:
        deadline = time.monotonic() + start_s
        while want_monitor and running.url is None:
            for line in running.log_text().splitlines():
                if line.startswith("monitor: "):
                    running.url = line.split()[1].rstrip("/")
            if process.poll() is not None:
                raise AssertionError(f"streamer run ended early: {running.log_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no monitor line within {start_s} s: {running.log_text()[-2000:]}")
            time.sleep(0.1)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def visits(frames: int, every: int = 40, stay: int = 10) -> dict[int, list[dict[str, Any]]]:
    """Replay rows: a person stands in the frame for ``stay`` frames every ``every`` frames,
    so a count rule (threshold 1, clear_s 1) fires once per visit for as long as it runs."""
    return {f: [box("person", 200, 100, 260, 220)] for f in range(frames) if f % every < stay}
