"""An outbox that cannot be written: events wait in memory, retried; what is lost is counted.

The real CLI runs in a child whose file-size limit (``RLIMIT_FSIZE``, set in
``preexec_fn``) stops the outbox from growing after a few events, like a full disk.
SIGXFSZ is ignored in the child so writes fail with EFBIG instead of killing it. The
"disk comes back" case raises the child's limit from outside with ``prlimit``.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import make_video, read_jsonl, walker, write_config, write_replay

pytestmark = pytest.mark.integration

RULES = 6
WALKERS = 5
EVENTS = RULES * WALKERS  # each walker entering the zone fires every rule once
FSIZE_LIMIT = 250_000  # bytes: the outbox takes a few events, then every write fails


def scene(tmp_path: Path, outbox: dict[str, Any] | None = None, frames: int = 100) -> Path:
    video = make_video(tmp_path / "clip.mp4", frames=frames, fps=20.0)
    rows: dict[int, list[dict[str, Any]]] = {}
    for k in range(WALKERS):  # walker k enters the right half around frame 20 k + 12
        rows.update(walker(range(20 * k, 20 * k + 20), x_start=200, x_step=10, y1=100))
    replay = write_replay(tmp_path / "dets.jsonl", rows)
    rules = [{"id": f"lane-{i}", "type": "zone", "zone": "lane", "min_frames": 2, "cooldown_s": 0}
             for i in range(RULES)]
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(video), "realtime": True},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}],
        "rules": rules,
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db"), **(outbox or {})},
        "monitor": {"bind": "127.0.0.1:0"},
    })


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, resource.RLIM_INFINITY))


class Child:
    """``streamer run`` in a child with the file-size limit; collects its output."""

    def __init__(self, config: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamer", "run", str(config), "--progress-s", "0.5", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limit_file_size,
        )
        self.stderr: list[str] = []
        self.url = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            found = re.search(r"monitor: (http://\S+)", line)
            if found:
                self.url = found.group(1).rstrip("/")

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/status", timeout=5).json()

    def wait(self, predicate: Any, what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.url:
                try:
                    value = predicate()
                except httpx.HTTPError:
                    value = None
                if value:
                    return value
            time.sleep(0.05)
        raise AssertionError(f"{what} did not happen; stderr:\n{''.join(self.stderr)}")

    def finish(self) -> str:
        # Not communicate(): it would read stderr too, racing the reader thread for it.
        self.process.wait(timeout=120)
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()
        self._reader.join(5)
        assert self.process.returncode == 0, "".join(self.stderr)
        return stdout


def summary_counts(stdout: str) -> tuple[int, dict[str, int]]:
    accepted = int(re.search(r"events: (\d+) accepted", stdout).group(1))  # type: ignore[union-attr]
    lost = {reason: int(n) for n, reason in
            re.findall(r"^\s*(\d+) events could not be stored: (.*)$", stdout, re.MULTILINE)}
    return accepted, lost


def stored_events(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("backlog_mb", [None, 0.1])
def test_a_full_disk_is_counted_and_named_not_silent(tmp_path: Path, backlog_mb: float | None) -> None:
    outbox = {"backlog_mb": backlog_mb} if backlog_mb else {}
    child = Child(scene(tmp_path, outbox), "--drain-s", "1")
    try:
        status = child.wait(lambda: (s := child.status())["events"]["degraded"] and s, "degraded")
        events = status["events"]
        assert "outbox.db" in events["store_error"] and "disk I/O error" in events["store_error"]
        metrics = {f.name: f for f in text_string_to_metric_families(
            httpx.get(f"{child.url}/metrics", timeout=5).text)}
        assert metrics["streamer_outbox_degraded"].samples[0].value == 1
        if backlog_mb:  # a tiny budget: the oldest waiting events are given up while it runs
            status = child.wait(lambda: (s := child.status())["events"]["unstored_total"] and s,
                                "unstored during the run")
            assert status["events"]["waiting_mb"] <= backlog_mb
            assert any("no room left in memory (0.1 MB)" in reason
                       for reason in status["events"]["unstored_reasons"])
            metrics = {f.name: f for f in text_string_to_metric_families(
                httpx.get(f"{child.url}/metrics", timeout=5).text)}
            assert metrics["streamer_events_unstored"].samples[0].value >= 1
    finally:
        stdout = child.finish()
    progress = "".join(child.stderr)
    assert "DEGRADED: cannot write" in progress and "events wait in memory" in progress
    assert "Traceback" not in progress

    accepted, lost = summary_counts(stdout)
    assert 0 < accepted < EVENTS
    assert accepted + sum(lost.values()) == EVENTS, stdout  # every fired event accounted for
    assert accepted == stored_events(tmp_path / "outbox.db")
    shutdown = [n for reason, n in lost.items() if reason.endswith("(still failing at shutdown)")]
    assert shutdown and all("disk I/O error" in reason for reason in lost), stdout
    if backlog_mb:
        assert any(reason.startswith("no room left in memory") for reason in lost), stdout
    assert f"{sum(lost.values())} not stored" in stdout


def test_events_that_waited_are_stored_when_the_disk_comes_back(tmp_path: Path) -> None:
    child = Child(scene(tmp_path, frames=140), "--drain-s", "20")
    try:
        waiting = child.wait(lambda: child.status()["events"]["waiting"] >= 3, "events waiting")
        assert waiting
        # The operator frees the disk: the child's limit is lifted from outside.
        resource.prlimit(child.process.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        status = child.wait(lambda: (s := child.status())["events"]["degraded"] is False
                            and s["events"]["waiting"] == 0 and s, "recovery")
        assert status["events"]["unstored_total"] == 0 and status["events"]["store_error"] == ""
    finally:
        stdout = child.finish()
    accepted, lost = summary_counts(stdout)
    assert (accepted, lost) == (EVENTS, {}), stdout
    assert "outbox writable again" in "".join(child.stderr)
    assert stored_events(tmp_path / "outbox.db") == EVENTS
    lines = read_jsonl(tmp_path / "events.jsonl")
    assert len({line["eventId"] for line in lines}) == EVENTS
    stats = subprocess.run([sys.executable, "-m", "streamer", "events", "stats", "--outbox",
                            str(tmp_path / "outbox.db")], capture_output=True, text=True, timeout=60)
    assert json.loads(stats.stdout)["sinks"]["jsonl"]["unstored"] == 0


def test_events_a_hung_writer_still_holds_at_shutdown_are_counted(tmp_path: Path) -> None:
    """Another process holds the outbox's write lock (a long `events purge`, a backup):
    the writer waits inside SQLite, shutdown stops waiting, and says what it left behind."""
    import numpy as np
    import supervision as sv

    from streamer.config.models import EventSpec
    from streamer.events.outbox import Outbox
    from streamer.events.writer import ABANDONED, EventWriter
    from streamer.rules.base import RuleEvent
    from streamer.source.frame import Frame

    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    writer = EventWriter(outbox, ["jsonl"], "edge-box-07", "dock-3", lambda frame, event: frame.image)
    writer.start()
    image = np.zeros((90, 160, 3), np.uint8)
    event = RuleEvent("lane", 0.0, EventSpec(), sv.Detections.empty(), "person entered lane")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock, held
    try:
        for i in range(3):
            assert writer.submit(event, Frame(image=image, index=i, t_s=i / 10, wall_ts=time.time()))
        assert writer.stop(timeout=0.5, give_up_s=0) is False
        assert (writer.accepted_total, writer.unstored_total) == (0, 3)
        assert writer.unstored_reasons == {ABANDONED: 3}
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # The lock is gone: the writer finishes after all, and the counts say so.
    deadline = time.monotonic() + 30
    while writer.accepted_total < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (writer.accepted_total, writer.unstored_total) == (3, 0)
    assert stored_events(path) == 3
