"""The secret scan: a real run with every kind of secret planted, then every output searched.

Planted: a Vision Events API key, a camera password whose user part holds '@' and a
query value, a webhook URL whose path is its token (Slack style), and a monitor token.
Each contains the marker ``PLANTED``, so one search finds any of them, or any half of
one. Run twice through the real CLI with ``-v`` (every log record): once with the camera
away (RTSP to a closed port), once with a camera that works (an HTTP MJPEG camera that
takes the same URL). Searched: stdout, stderr, the events JSONL, the outbox (every row),
the bundle archives, what the Vision Events server and the webhook received, and the
monitor's ``/``, ``/api/status``, ``/metrics`` and ``/api/events``. Zero hits.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import box, write_config, write_replay
from support.mjpeg_server import MjpegServer
from support.rtsp import free_port
from support.vision_events_server import VisionEventsServer

pytestmark = pytest.mark.integration

MARKER = re.compile("planted", re.IGNORECASE)
API_KEY = "rf_PLANTED_api_key_31337"
CAM_PASSWORD = "PLANTEDpw1@PLANTEDpw2"
QUERY_SECRET = "PLANTEDq1"
HOOK_PATH = "/services/T0AB/B0CD/PLANTEDhook9"
MONITOR_TOKEN = "PLANTED-monitor-token-0001"


class _Hook(BaseHTTPRequestHandler):
    """A webhook receiver that keeps the path and body of each POST."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, source: str, api_url: str, hook_url: str, monitor_port: int) -> Path:
    # A person stands in the right half from frame 5: one zone event once frames flow.
    replay = write_replay(tmp_path / "dets.jsonl", {f: [box("person", 100, 20, 140, 110)]
                                                    for f in range(5, 3000)})
    return write_config(tmp_path / "site.yaml", {
        "device_id": "box-1",
        "camera": {"id": "dock-3", "source": source, "open_timeout_s": 1, "read_timeout_s": 2,
                   "stall_timeout_s": 3,
                   "health_events": ["connecting", "live", "stalled", "frozen", "offline"]},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
        "rules": [{"id": "lane-intrusion", "type": "zone", "zone": "lane", "min_frames": 2}],
        "sinks": [
            {"type": "vision_events", "api_url": api_url, "api_key": API_KEY,
             "use_case": "site-safety"},
            {"type": "webhook", "url": hook_url},
            {"type": "jsonl", "path": str(tmp_path / "events.jsonl")},
            {"type": "bundle", "dir": str(tmp_path / "bundles"), "use_case": "site-safety"},
        ],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"bind": f"127.0.0.1:{monitor_port}", "token": MONITOR_TOKEN},
    })


def _monitor_pages(port: int, ready: Any, timeout_s: float = 40) -> dict[str, str]:
    """The monitor's answers once ``ready(status, events)`` holds (polled while it runs)."""
    headers = {"Authorization": f"Bearer {MONITOR_TOKEN}"}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as client:
        while True:
            try:
                status = client.get("/api/status")
                events = client.get("/api/events?limit=200")
                if status.status_code == 200 and ready(status.json(), events.json()):
                    return {"/api/status": status.text, "/api/events": events.text,
                            "/metrics": client.get("/metrics").text, "/": client.get("/").text}
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the monitor never showed what the test waits for"
            time.sleep(0.3)


def _outbox_text(path: Path) -> str:
    """Every row of every table, plus the raw bytes of the database and its WAL."""
    with sqlite3.connect(path) as db:
        rows = "\n".join(db.iterdump())
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return rows + raw.decode("latin-1")


def _bundle_text(folder: Path) -> str:
    parts: list[str] = []
    for archive in sorted(folder.glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member)
                parts.append(member.name)
                if handle is not None:
                    parts.append(handle.read().decode("latin-1"))
    return "\n".join(parts)


def _run_and_scan(tmp_path: Path, source: str, duration_s: int, ready: Any,
                  server: VisionEventsServer, hook: ThreadingHTTPServer) -> dict[str, Any]:
    port = free_port()
    hook_url = f"http://127.0.0.1:{hook.server_address[1]}{HOOK_PATH}"
    config = _config(tmp_path, source, server.url, hook_url, port)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamer", "-v", "run", str(config), "--duration", str(duration_s),
         "--drain-s", "5", "--progress-s", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        outputs = _monitor_pages(port, ready)
        stdout, stderr = process.communicate(timeout=duration_s + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    jsonl = tmp_path / "events.jsonl"
    outputs.update({
        "stdout": stdout, "stderr": stderr,
        "events JSONL": jsonl.read_text() if jsonl.exists() else "",
        "outbox": _outbox_text(tmp_path / "outbox.db"),
        "bundles": _bundle_text(tmp_path / "bundles"),
        "Vision Events server": json.dumps(list(server.events.values())),
        "webhook bodies": "\n".join(body.decode() for _, body in hook.received),  # type: ignore[attr-defined]
    })
    for name, text in outputs.items():
        hits = [text[max(0, m.start() - 60):m.end() + 20] for m in MARKER.finditer(text)]
        assert not hits, f"a secret reached {name}: {hits[:3]}"
    return {"returncode": process.returncode, "stdout": stdout, "stderr": stderr,
            "status": json.loads(outputs["/api/status"]),
            "events": [json.loads(line) for line in outputs["events JSONL"].splitlines()]}


def test_no_secret_leaves_with_the_camera_away(tmp_path: Path, hook: ThreadingHTTPServer) -> None:
    closed = free_port()
    source = f"rtsp://admin:{CAM_PASSWORD}@127.0.0.1:{closed}/stream1?user=admin&pwd={QUERY_SECRET}"

    def offline_seen(status: dict[str, Any], events: list[dict[str, Any]]) -> bool:
        return status["camera"]["last_error"] != "" and any(
            "offline" in e["reason"] for e in events)

    with VisionEventsServer(api_key=API_KEY) as server:
        run = _run_and_scan(tmp_path, source, 6, offline_seen, server, hook)
    assert run["returncode"] == 1  # a bounded run that never got a frame
    (error,) = [line for line in run["stderr"].splitlines() if line.startswith("error:")]
    assert error.startswith(
        f"error: camera.source: no frame from rtsp://***@127.0.0.1:{closed}/stream1?user=***&pwd=***"
    ), error
    assert "cannot open stream" in run["stderr"]  # the log kept its detail, masked
    assert run["status"]["camera"]["source"] == (
        f"rtsp://***@127.0.0.1:{closed}/stream1?user=***&pwd=***")
    (offline,) = [e for e in run["events"] if e["customMetadata"]["health_state"] == "offline"]
    # Health events leave the box: they name the camera by its id, never its URL.
    assert offline["customMetadata"]["source"] == "dock-3"
    assert "camera dock-3" in offline["customMetadata"]["reason"]
    assert "127.0.0.1" not in json.dumps(offline)
    assert hook.received, "the webhook got nothing: the scan of its bodies proved nothing"  # type: ignore[attr-defined]
    assert all(path == HOOK_PATH for path, _ in hook.received)  # type: ignore[attr-defined]


def test_no_secret_leaves_with_a_working_camera(tmp_path: Path, hook: ThreadingHTTPServer) -> None:
    ThreadingHTTPServer.allow_reuse_address = True
    camera = MjpegServer().start()
    source = (f"http://admin:{CAM_PASSWORD}@127.0.0.1:{camera.port}/video.mjpg"
              f"?user=admin&pwd={QUERY_SECRET}")

    def event_seen(status: dict[str, Any], events: list[dict[str, Any]]) -> bool:
        return status["camera"]["state"] == "live" and any(
            e["rule_id"] == "lane-intrusion" for e in events)

    try:
        with VisionEventsServer(api_key=API_KEY) as server:
            run = _run_and_scan(tmp_path, source, 8, event_seen, server, hook)
            delivered = list(server.events.values())
    finally:
        camera.stop()
    assert run["returncode"] == 0, run["stderr"][-2000:]
    rules = {e["customMetadata"]["rule_id"] for e in run["events"]}
    assert {"lane-intrusion", "camera-health"} <= rules
    assert {e["customMetadata"]["rule_id"] for e in delivered} >= {"lane-intrusion"}
    assert f"http://***@127.0.0.1:{camera.port}/video.mjpg?user=***&pwd=***" in run["stderr"]
    assert len(hook.received) >= 2  # type: ignore[attr-defined]
