"""The live monitor against a running pipeline: real HTTP, real MJPEG, real Prometheus text,
and a real headless Chromium loading the page."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import (
    make_video,
    phone_page,
    require_program,
    running,
    wait_for,
    walker,
    write_config,
    write_replay,
)

from streamer.config import load_config
from streamer.config.loader import parse_config
from streamer.errors import ConfigError
from streamer.monitor import LiveView, Metrics, Monitor, MonitorFeed, build_app
from streamer.monitor.server import HostPolicy
from streamer.runtime import RunOptions, Runtime

pytestmark = [pytest.mark.integration, pytest.mark.system]

API_KEY = "rf-secret-key-for-monitor-test"


def scene_config(tmp_path: Path, frames: int, monitor: dict[str, Any]) -> Path:
    video = make_video(tmp_path / "clip.mp4", frames=frames)
    # A person walks into the right half: enters at frame 12 (t = 1.2 s).
    replay = write_replay(tmp_path / "dets.jsonl", walker(range(0, frames), x_start=200, x_step=10, y1=100))
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(video), "realtime": True},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
        "rules": [{"id": "lane-intrusion", "type": "zone", "zone": "lane", "min_frames": 3,
                   "event": {"description": "{class} #{track_id} in {zone}"}}],
        "sinks": [
            {"type": "jsonl", "path": str(tmp_path / "events.jsonl")},
            # Never reachable: its key must still never show on any endpoint.
            {"type": "vision_events", "api_url": "http://127.0.0.1:9", "api_key": API_KEY,
             "use_case": "site-safety"},
        ],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": monitor,
    })




def read_mjpeg_frames(response: httpx.Response, count: int) -> list[np.ndarray]:
    buffer = b""
    frames: list[np.ndarray] = []
    for chunk in response.iter_bytes():
        buffer += chunk
        while True:
            start = buffer.find(b"\xff\xd8")
            end = buffer.find(b"\xff\xd9", start + 2)
            if start < 0 or end < 0:
                break
            image = cv2.imdecode(np.frombuffer(buffer[start:end + 2], np.uint8), cv2.IMREAD_COLOR)
            assert image is not None
            frames.append(image)
            buffer = buffer[end + 2:]
        if len(frames) >= count:
            return frames
    raise AssertionError(f"stream ended after {len(frames)} frames")


def test_endpoints_of_a_running_pipeline(tmp_path: Path) -> None:
    config = scene_config(tmp_path, frames=80, monitor={"bind": "127.0.0.1:0"})
    with running(config) as (runtime, url), httpx.Client(base_url=url, timeout=10) as client:
        events = wait_for(lambda: client.get("/api/events?limit=5").json(), 10, "events")
        (event,) = events
        assert event["rule_id"] == "lane-intrusion" and event["description"] == "person #0 in lane"
        snapshot = client.get(f"/events/{event['eventId']}/snapshot.jpg")
        assert snapshot.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)
        assert client.get("/events/nope/snapshot.jpg").status_code == 404

        # The rules' state is copied on the frame loop a few times a second, and the JSONL
        # sink delivers on its own thread: wait until both caught up with the event.
        status = wait_for(lambda: (s := client.get("/api/status").json())["rules"]["lane-intrusion"]
                          ["fired_total"] == 1 and s["sinks"]["jsonl"]["delivered"] == 1 and s,
                          10, "the rule's state and the JSONL sink showing the event")
        camera = status["camera"]
        assert camera["id"] == "dock-3" and camera["state"] == "live"
        assert camera["frames_total"] > 10 and camera["frames_dropped_total"] == 0
        assert camera["last_frame_age_s"] < 2
        assert status["rules"]["lane-intrusion"]["fired_total"] == 1
        assert status["events"]["accepted_total"] == 1
        assert status["sinks"]["jsonl"]["delivered"] == 1
        assert status["sinks"]["vision_events"]["pending"] == 1
        # The unreachable sink's backlog: one event, not draining, so no time to drain.
        backlog = status["sinks"]["vision_events"]
        assert backlog["backlog"] == 1 and backlog["backlog_age_s"] is not None
        assert backlog["drain_eta_s"] is None
        fps_out = wait_for(lambda: client.get("/api/status").json()["camera"]["fps_out"], timeout=5)
        assert 5 < fps_out < 15  # the file is paced at 10 fps

        metrics = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
        assert metrics["streamer_frames"].samples[0].value > 10
        assert metrics["streamer_inference_seconds"].type == "histogram"
        assert any(s.labels.get("rule_id") == "lane-intrusion" and s.value == 1
                   for s in metrics["streamer_events"].samples)
        assert any(s.labels == {"sink": "vision_events", "state": "pending"} and s.value == 1
                   for s in metrics["streamer_deliveries"].samples)

        with client.stream("GET", "/stream.mjpg") as response:
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
            frames = read_mjpeg_frames(response, 3)
        assert all(frame.shape == (360, 640, 3) for frame in frames)
        assert not np.array_equal(frames[0], frames[-1])  # the picture moves
        still = client.get("/snapshot.jpg")
        assert still.status_code == 200 and still.content[:2] == b"\xff\xd8"

        page = client.get("/").text
        for text in (page, client.get("/api/status").text, client.get("/metrics").text,
                     client.get("/api/events").text):
            assert API_KEY not in text


def test_token_is_required_when_set(tmp_path: Path) -> None:
    config = scene_config(tmp_path, frames=40, monitor={"bind": "127.0.0.1:0", "token": "let-me-in"})
    with running(config) as (_, url), httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/", "/api/status", "/metrics", "/snapshot.jpg", "/api/events"):
            assert client.get(path).status_code == 401
            assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/status", headers={"Authorization": "Bearer let-me-in"}).status_code == 200
        assert client.get("/api/status?token=let-me-in").status_code == 200


BASE = "camera: {source: x.mp4}\nmodels: [{id: m, kind: hog}]\n"
TOKEN_16 = "0123456789abcdef"


@pytest.mark.parametrize(("monitor", "expected"), [
    ("{bind: 0.0.0.0:8080}", r"monitor.token: bind '0.0.0.0:8080' is reachable .* set monitor.token"),
    ('{bind: 0.0.0.0:8080, token: ""}', r"monitor.token: is empty .* at least 16 characters"),
    ('{bind: "[::]:8080", token: "   "}', r"monitor.token: is empty"),
    ("{bind: 0.0.0.0:8080, token: abcdef}", r"monitor.token: has 6 characters; .* at least 16"),
    ("{bind: 10.1.2.3:8080, token: 0123456789abcde}", r"monitor.token: has 15 characters"),
    ("{bind: cam-box.example:8080}", r"monitor.token: bind 'cam-box.example:8080' is reachable"),
])
def test_binding_beyond_loopback_needs_a_real_token(monitor: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as refused:
        parse_config(BASE + f"monitor: {monitor}\n")
    assert len(str(refused.value).splitlines()) == 1


def test_tokens_that_pass() -> None:
    wide = parse_config(BASE + f"monitor: {{bind: 0.0.0.0:8080, token: {TOKEN_16}}}\n").monitor
    assert wide.token is not None and wide.token.get_secret_value() == TOKEN_16
    for bind in ("127.0.0.1:8080", "127.3.4.5:8080", "localhost:8080", "'[::1]:8080'"):
        # On loopback an empty token (an unset ${MONITOR_TOKEN:-}) means "no token".
        assert parse_config(BASE + f'monitor: {{bind: {bind}, token: ""}}\n').monitor.token is None
    assert parse_config(BASE + "monitor: {bind: 127.0.0.1:8080, token: short}\n").monitor.token
    off = parse_config(BASE + "monitor: {bind: 0.0.0.0:8080, enabled: false}\n").monitor
    assert off.token is None  # nothing is served


def _feed() -> MonitorFeed:
    return MonitorFeed(live=LiveView(lambda frame, dets: frame.image, max_fps=1), status=dict,
                       events=lambda limit: [], event_image=lambda event_id: None,
                       metrics=Metrics(dict))


@pytest.mark.parametrize("token", [None, "", "  ", "fifteen-chars-x"])
def test_the_monitor_itself_never_serves_off_loopback_without_a_token(token: str | None) -> None:
    """Whatever builds it (a config made in code skips the loader), no listening socket
    goes to the network without a token of at least 16 characters."""
    with pytest.raises(ConfigError, match="at least 16 characters"):
        Monitor(_feed(), "0.0.0.0:0", token)


def test_a_run_whose_config_skipped_validation_still_refuses(tmp_path: Path) -> None:
    """model_construct skips every validator: the runtime refuses anyway (exit 2 via the
    CLI), and the run ends without a monitor instead of serving without auth."""
    from streamer.config.models import MonitorConfig

    config = load_config(scene_config(tmp_path, frames=20, monitor={"bind": "127.0.0.1:0"}))
    wide_open = MonitorConfig.model_construct(
        enabled=True, bind="0.0.0.0:0", token=None, allowed_hosts=[], max_fps=5.0)
    runtime = Runtime(config.model_copy(update={"monitor": wide_open}),
                      RunOptions(progress_s=3600, drain_s=0), report=lambda line: None)
    with pytest.raises(ConfigError, match="monitor.token: .* at least 16 characters"):
        runtime.run()
    assert runtime.monitor is None


def test_an_empty_token_never_means_open() -> None:
    with pytest.raises(ConfigError, match="monitor.token: is empty"):
        build_app(_feed(), token="")


def test_empty_token_from_an_unset_variable_is_refused_by_validate_and_run(tmp_path: Path) -> None:
    from support import run_cli

    config = scene_config(tmp_path, frames=10, monitor={"bind": "0.0.0.0:0", "token": "${MONITOR_TOKEN:-}"})
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "MONITOR_TOKEN" in text)
    env = {"MONITOR_TOKEN": ""}
    for command in ("validate", "run"):
        result = run_cli(command, str(config), env=env, timeout=60)
        assert result.returncode == 2, result.stderr
        (error,) = result.stderr.strip().splitlines()
        assert error.startswith(f"error: {config}:{line} monitor.token: is empty"), error
        assert "0.0.0.0:0" in error and "Traceback" not in result.stderr
    # The --monitor flag overrides a loopback bind through the same check.
    loopback = scene_config(tmp_path, frames=10, monitor={"bind": "127.0.0.1:0", "token": "${MONITOR_TOKEN:-}"})
    result = run_cli("run", str(loopback), "--monitor", "0.0.0.0:0", env=env, timeout=60)
    assert result.returncode == 2
    (error,) = result.stderr.strip().splitlines()
    assert error.startswith("error: --monitor 0.0.0.0:0: bind '0.0.0.0:0' is reachable"), error
    assert not (tmp_path / "outbox.db").exists()  # refused before anything ran


def test_foreign_host_header_is_refused(tmp_path: Path) -> None:
    """DNS rebinding: a page under another domain reaching the loopback monitor gets no
    picture, no status and no events; the names the operator uses still work."""
    config = scene_config(tmp_path, frames=60, monitor={
        "bind": "127.0.0.1:0", "allowed_hosts": ["edge-box-07.local"]})
    with running(config) as (runtime, url), httpx.Client(base_url=url, timeout=10) as client:
        port = url.rsplit(":", 1)[1]
        for host in ("rebind.attacker.example", f"rebind.attacker.example:{port}",
                     "127.0.0.1.nip.io", f"localhost.attacker.example:{port}", "", "[::2]"):
            for path in ("/", "/api/status", "/snapshot.jpg", "/api/events", "/metrics", "/stream.mjpg"):
                answer = client.get(path, headers={"Host": host})
                assert answer.status_code == 421, (host, path, answer.status_code)
                assert "allowed_hosts" in answer.text and "dock-3" not in answer.text
        for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST",
                     f"[::1]:{port}", "edge-box-07.local", f"Edge-Box-07.local:{port}"):
            assert client.get("/api/status", headers={"Host": host}).status_code == 200, host
        # A raw request as a browser would send it, Host line and all.
        import socket

        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
            raw.sendall(b"GET /api/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 421 ") and b"dock-3" not in answer


def test_host_policy_of_a_wildcard_bind() -> None:
    """Bound to every interface, the box is reached by its addresses: any IP literal is
    fine (a rebinding page always comes under a name), names must be listed."""
    policy = HostPolicy.for_bind("0.0.0.0", ["edge-box-07.local"])
    for host in ("192.168.1.50:8080", "10.0.0.7", "[fe80::1]:8080", "localhost:8080",
                 "edge-box-07.local:8080"):
        assert policy.allows(host), host
    for host in ("evil.example", "edge-box-08.local", "192.168.1.50.evil.example:8080", ""):
        assert not policy.allows(host), host
    specific = HostPolicy.for_bind("192.168.1.50")
    assert specific.allows("192.168.1.50:8080") and not specific.allows("192.168.1.51:8080")


def test_a_viewer_that_never_reads_does_not_slow_the_frame_loop(tmp_path: Path) -> None:
    """A stalled MJPEG client: the paced file still runs at its 10 fps with no drops."""
    config = scene_config(tmp_path, frames=50, monitor={"bind": "127.0.0.1:0"})
    with running(config) as (runtime, url):
        import socket

        host, port = url.removeprefix("http://").split(":")
        stalled = socket.create_connection((host, int(port)))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())  # and never read
        try:
            wait_for(lambda: runtime.summary.frames >= 45, timeout=15)
            started = runtime.summary.frames
            t0 = time.monotonic()
            time.sleep(0.3)
            assert runtime.summary.frames > started or runtime.summary.frames >= 49
            assert runtime.status()["camera"]["frames_dropped_total"] == 0
            assert time.monotonic() - t0 < 1
        finally:
            stalled.close()


def test_demo_page_in_a_real_browser(tmp_path: Path) -> None:
    """`streamer demo` (the real model on the sample video) seen in headless Chromium."""
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium", "chromium")
    demo = subprocess.Popen(
        [sys.executable, "-m", "streamer", "demo", "--monitor", "127.0.0.1:0", "--out", str(tmp_path),
         "--max-frames", "250", "--drain-s", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = ""
        assert demo.stderr is not None
        for line in demo.stderr:
            if line.startswith("monitor: "):
                url = line.split()[1]
                break
        assert url, "the demo did not print its monitor URL"
        threading.Thread(target=demo.stderr.read, daemon=True).start()  # keep the pipe drained
        with sync_playwright() as playwright:
            with phone_page(playwright, chromium) as page:
                page.goto(url)
                page.wait_for_selector("[data-event-id]", timeout=90000)  # the model at ~1 fps on a loaded machine
                page.wait_for_function("document.getElementById('live').naturalWidth > 0", timeout=10000)
                first = page.locator("#live").screenshot()
                time.sleep(1.0)
                second = page.locator("#live").screenshot()
                assert first != second, "the live image did not update"
                # The first event may be another rule's (the line fires at ~1.4 s): wait for this one's.
                intrusion = page.locator("[data-rule='walkway-intrusion']")
                wait_for(lambda: " inside · last alert " in intrusion.inner_text(), 90, "the intrusion alert")
                rule = intrusion.inner_text()
                # In an operator's words (issue 16); the raw keys stay on /api/status.
                assert "Walkway intrusion · " in rule and " inside · last alert " in rule and " this run" in rule
                assert "fired_total" not in rule
                wait_for(lambda: "entered the walkway" in page.locator("#events").inner_text(), 10, "its card")
                assert page.locator("#health").inner_text() == "live"
                assert "demo-bikes" in page.locator("#title").inner_text()
                # Phone-sized: nothing wider than the screen.
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.screenshot(path=str(tmp_path / "monitor.png"), full_page=True)
    finally:
        demo.terminate()
        demo.wait(30)


def test_monitor_is_up_while_the_camera_is_away(tmp_path: Path) -> None:
    """A camera that cannot be reached at start: the page still answers and says so."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = scene_config(tmp_path, frames=10, monitor={"bind": "127.0.0.1:0"})
    text = config.read_text()
    source_line = next(line for line in text.splitlines() if "source:" in line and "clip.mp4" in line)
    config.write_text(text.replace(
        source_line, f"  source: rtsp://viewer:pw-9876@127.0.0.1:{port}/stream1\n  open_timeout_s: 1"))
    with running(config) as (_, url), httpx.Client(base_url=url, timeout=10) as client:
        camera = wait_for(lambda: (c := client.get("/api/status").json()["camera"])["last_error"] and c, 10, "last_error")
        assert camera["state"] in ("connecting", "offline")
        assert "cannot open" in camera["last_error"]
        assert "pw-9876" not in client.get("/api/status").text
        # The outage shows its attempts and when the next one comes (RTSP: at most 3 s away).
        # Two refused opens may come within a second: wait for the time away to pass one too.
        camera = wait_for(lambda: (c := client.get("/api/status").json()["camera"])["reconnect_attempts"] >= 2
                          and c["next_attempt_at"] and (c["away_s"] or 0) >= 1.0 and c,
                          30, "two reconnect attempts, 1 s away")
        assert camera["reconnect_max_s"] == 3.0
        assert 0 <= camera["next_attempt_in_s"] <= 3.0 and camera["next_attempt_at"].endswith("Z")
        assert camera["away_s"] > 0  # two attempts: the first at once, the next after a jittered <= 1 s
        assert client.get("/").status_code == 200
