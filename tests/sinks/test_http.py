"""Every HTTP sink reads an answer within bounds (issue 28): a webhook answering 200 with
hundreds of MB, or trickling its answer a byte every 3 s, costs the real ``streamer run``
neither its memory nor its sender; the events stay pending and are retried, and the
counters say so."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import make_video, run_cli, wait_for, write_config, write_replay
from support.processes import streamer_run, visits

pytestmark = pytest.mark.integration

BIG_BYTES = 300 * 1024 * 1024


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts[self.path] = self.server.posts.get(self.path, 0) + 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path == "/big":
            self.send_header("Content-Length", str(BIG_BYTES))
            self.end_headers()
            chunk = b" " * (1024 * 1024)
            try:
                for _ in range(BIG_BYTES // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                return
        else:  # /slow: a valid receipt, one byte every 3 s
            body = b'{"ok": true, "padding": "' + b"x" * 100 + b'"}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(3)
            except OSError:
                return


@contextmanager
def hostile_server() -> Iterator[tuple[str, dict[str, int]]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    httpd.daemon_threads = True
    httpd.posts = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.posts  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_huge_and_trickled_answers_are_cut_and_the_events_retried(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=40, size=(160, 120))
    replay = write_replay(tmp_path / "dets.jsonl", visits(4000))
    with hostile_server() as (base, posts):
        config = write_config(tmp_path / "site.yaml", {
            "camera": {"id": "dock-3", "source": str(video), "realtime": True, "loop": True},
            "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
            "rules": [{"id": "someone", "type": "count", "threshold": 1, "clear_s": 1, "cooldown_s": 0}],
            "sinks": [{"type": "webhook", "id": "big", "url": f"{base}/big", "timeout_s": 5},
                      {"type": "webhook", "id": "slow", "url": f"{base}/slow", "timeout_s": 5}],
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "monitor": {"enabled": False},
        })
        with streamer_run(config, want_monitor=False) as run:
            wait_for(lambda: posts.get("/big", 0) >= 1, 30, "the first POST")
            baseline = rss_mb(run.process.pid)
            peak = baseline

            def counters() -> dict[str, Any]:
                nonlocal peak
                peak = max(peak, rss_mb(run.process.pid))
                done = run_cli("events", "stats", "--outbox", str(tmp_path / "outbox.db"), timeout=30)
                return json.loads(done.stdout)["sinks"]

            sinks = wait_for(lambda: (c := counters())["big"]["retried"] >= 2 and c["slow"]["retried"] >= 1 and c,
                             60, "both sinks retrying")
            # A retry is counted before its backoff ends: wait for the second POST itself.
            wait_for(lambda: posts.get("/slow", 0) >= 2, 30,
                     "a second POST after the trickled answer (it must not hold its sender)")
            peak = max(peak, rss_mb(run.process.pid))
            assert peak - baseline < 100, f"resident memory grew {peak - baseline:.0f} MB"
            for name in ("big", "slow"):
                assert sinks[name]["delivered"] == 0 and sinks[name]["pending"] >= 1, sinks
    log = run.log_text()
    assert "passed 64 KiB" in log or "still coming at the request's deadline" in log, log[-2000:]
