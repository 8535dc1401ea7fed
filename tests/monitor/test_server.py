"""The monitor's server through a real runtime and real HTTP.

The event list (issue 26) is the outbox's history: a restarted camera lists the earlier
run's events, newest first, paged and filtered.

"This view is right" (issue 27): the tamper checks' reference view retaken from the page,
under the rules of every monitor write (the token, the page's own Origin, a JSON body).

As a hostile tester meets it (issue 28): a real ``streamer run`` process, real sockets.
Slow and half-open connections, 300 viewers of an offline camera, a huge body and a bait
page's frame must cost the camera, the frame loop and the sinks nothing."""

from __future__ import annotations

import json
import resource
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import free_port, make_video, running, wait_for, write_config, write_replay
from support.processes import streamer_run, visits
from support.review import TOKEN as REVIEW_TOKEN
from support.review import first_run, get, post
from support.tamper_footage import play, vtest, write_clip

from streamer.source.view import reference_path

pytestmark = pytest.mark.integration



def test_this_view_is_right_takes_a_new_reference_and_foreign_writes_are_refused(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "plaza.mp4", play(vtest(), 8.0), 10.0)
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(clip), "realtime": True, "loop": True,
                   "tamper": {"every_s": 0.5}},
        "models": [{"id": "people", "kind": "replay", "path": str(tmp_path / "none.jsonl")}],
        "zones": [{"id": "lane", "polygon": [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"bind": "127.0.0.1:0", "token": REVIEW_TOKEN},
    })
    meta_path = reference_path(tmp_path / "outbox.db", "dock-3").with_suffix(".json")
    with running(config, start_s=30, stop_s=30) as (runtime, url):
        first = wait_for(lambda: (get(url, "/api/status")["camera"]["view"] or {}).get("reference"), 30,
                         "the first reference view")
        assert first["reason"] == "first run"
        path = "/api/camera/reference"
        refused = [
            post(url, path, {}, token=None),
            post(url, path, {}, token="wrong-token-0123456789"),
            post(url, path, {}, origin="https://evil.example"),
            httpx.post(url + path + f"?token={REVIEW_TOKEN}", data={"by": "x"}, timeout=10),  # a cross-site form
        ]
        assert [r.status_code for r in refused] == [401, 401, 403, 415]
        assert json.loads(meta_path.read_text())["reason"] == "first run"
        answer = post(url, path, {"by": "Ana"})
        assert answer.status_code == 202, answer.text
        wait_for(lambda: get(url, "/api/status")["camera"]["view"]["reference"]["reason"]
                 == "the operator said the view is right", 10, "the new reference view")
        assert json.loads(meta_path.read_text())["reason"] == "the operator said the view is right"
        assert get(url, "/api/status")["camera"]["state"] == "live"


TOKEN = "monitor-token-for-hostile-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def looping_scene(tmp_path: Path, bind: str, **camera: Any) -> Path:
    """A 4 s clip looped as a 10 fps camera; a count rule fires at each visit (every 4 s)
    into a JSONL sink; the monitor on ``bind`` with a token."""
    video = make_video(tmp_path / "clip.mp4", frames=40, size=(320, 180))
    replay = write_replay(tmp_path / "dets.jsonl", visits(4000))
    return write_config(tmp_path / "site.yaml", {
        "camera": camera or {"id": "dock-3", "source": str(video), "realtime": True, "loop": True},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "rules": [{"id": "someone", "type": "count", "threshold": 1, "clear_s": 1, "cooldown_s": 0}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"bind": bind, "token": TOKEN},
    })


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def send_each(socks: list[socket.socket], data: bytes) -> None:
    """``data`` on every socket; one the monitor has closed is passed over."""
    for sock in socks:
        try:
            sock.send(data)
        except OSError:
            pass


def test_slow_connections_never_starve_the_source_frame_loop_or_sinks(tmp_path: Path) -> None:
    """1,100 connections that never finish their headers, against a process with the usual
    1,024 descriptors: frames, events and the looping source go on, the monitor's share of
    descriptors stays bounded, the log stays quiet, and once they stop the page answers."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"this test opens 1,100 sockets; the hard descriptor limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    port = free_port()
    config = looping_scene(tmp_path, f"0.0.0.0:{port}")
    frames = tmp_path / "frames.jsonl"
    events = tmp_path / "events.jsonl"
    with streamer_run(config, "--record-detections", str(frames), nofile=1024) as run:
        wait_for(lambda: lines_in(events) >= 1, 30, "the first event")
        attackers: list[socket.socket] = []
        try:
            for _ in range(1100):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                attackers.append(sock)
            time.sleep(0.5)
            send_each(attackers, b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            frames_before, events_before = lines_in(frames), lines_in(events)
            fds_seen = 0
            # Past the header deadline, trickling a byte now and then as a slow-loris does;
            # the looping file is reopened three times meanwhile.
            for _ in range(14):
                time.sleep(1.0)
                send_each(attackers, b"X")
                assert run.process.poll() is None, run.log_text()[-3000:]
                fds_seen = max(fds_seen, open_fds(run.process.pid))
            assert lines_in(frames) >= frames_before + 60, "the frame loop stalled under the attack"
            assert lines_in(events) >= events_before + 2, "the JSONL sink stopped under the attack"
            assert fds_seen < 1024 - 200, f"the process held {fds_seen} descriptors"
        finally:
            for sock in attackers:
                sock.close()
        with httpx.Client(timeout=5) as client:
            status = wait_for(lambda: (r := client.get(f"{run.url.replace('0.0.0.0', '127.0.0.1')}"
                                                       "/api/status", headers=AUTH)).status_code == 200 and r,
                              15, "the status answer after the attack").json()
        assert status["camera"]["state"] == "live"
        log = run.log_text()
        assert "Too many open files" not in log and "Traceback" not in log, log[-3000:]
        assert len(log) < 50_000, f"{len(log)} bytes of log in 15 s"


def test_status_never_waits_on_viewers_of_an_offline_camera(tmp_path: Path) -> None:
    """300 viewers of a camera that never answers: /api/status still answers at once
    (the container's health check allows 5 s), viewers past the cap are told so."""
    closed = free_port()
    port = free_port()
    config = looping_scene(tmp_path, f"127.0.0.1:{port}", id="dock-3",
                           source=f"rtsp://127.0.0.1:{closed}/stream1", open_timeout_s=1)
    with streamer_run(config) as run:
        viewers: list[socket.socket] = []
        try:
            for _ in range(300):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(f"GET /stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                viewers.append(sock)
            time.sleep(2.0)  # every viewer waiting for a frame that never comes
            with httpx.Client(timeout=10) as client:
                for _ in range(3):
                    started = time.monotonic()
                    answer = client.get(f"{run.url}/api/status", headers=AUTH)
                    took = time.monotonic() - started
                    assert answer.status_code == 200 and answer.json()["camera"]["state"] != "live"
                    assert took < 2.0, f"/api/status took {took:.1f} s with 300 viewers"
            refused = 0
            for sock in viewers:
                sock.settimeout(0.2)
                try:
                    refused += sock.recv(64).startswith(b"HTTP/1.1 503")
                except OSError:
                    pass
            assert refused > 0, "viewers past the cap were not told to come back later"
        finally:
            for sock in viewers:
                sock.close()
        assert "Traceback" not in run.log_text()


def test_every_answer_refuses_framing_and_big_bodies_get_413(tmp_path: Path) -> None:
    """No page of the monitor can be put in another site's frame (a bait page snoozed a
    rule with one click); a body past the limit is refused before it is read."""
    port = free_port()
    config = looping_scene(tmp_path, f"127.0.0.1:{port}")
    with streamer_run(config) as run, httpx.Client(base_url=run.url, timeout=10) as client:
        answers = [client.get("/"), client.get("/", headers=AUTH), client.get("/api/status", headers=AUTH),
                   client.get("/nope", headers=AUTH), client.get("/", headers={"Host": "evil.example"}),
                   client.post("/api/rules/someone/snooze", headers=AUTH, json={"for": "1h"})]
        assert [a.status_code for a in answers] == [401, 200, 200, 404, 421, 200]
        for answer in answers:
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"

        snooze = "/api/rules/someone/snooze"
        own = {**AUTH, "Origin": run.url, "Content-Type": "application/json"}
        # Declared: refused on the header alone, before 150 MB are sent.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((f"POST {snooze} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                          f"Origin: {run.url}\r\nContent-Type: application/json\r\n"
                          "Content-Length: 150000000\r\n\r\n{\"for\": \"").encode())
            assert sock.recv(64).startswith(b"HTTP/1.1 413")
        # Chunked: refused once the count passes the limit.
        chunks = iter([b'{"for": "1h", "pad": "' + b"x" * 40000, b"x" * 40000 + b'"}'])
        answer = client.post(snooze, headers=own, content=chunks)
        assert answer.status_code == 413 and "x-frame-options" in answer.headers
        # A small body still works, and the snooze is real.
        assert client.post(snooze, headers=own, json={"for": "15m"}).status_code == 200
    assert "Traceback" not in run.log_text()


def review_api(url: str, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, headers={"Authorization": f"Bearer {REVIEW_TOKEN}"},
                     timeout=10)


def test_a_restarted_camera_lists_the_earlier_runs_events(tmp_path: Path) -> None:
    config, earlier = first_run(tmp_path)
    ids = [str(e["eventId"]) for e in earlier]
    # The second run watches an empty scene (no detections), looping the video so it stays
    # up: whatever its monitor lists is history.
    (tmp_path / "dets.jsonl").write_text("")
    config.write_text(config.read_text().replace("realtime: false", "realtime: true\n  loop: true"))
    with running(config) as (_runtime, url):
        listed = review_api(url, "/api/events", limit=200).json()
        assert [e["eventId"] for e in listed] == ids[::-1]  # newest first, all of them
        newest = listed[0]
        assert newest["description"] and newest["delivery"] == "delivered"
        assert newest["rule_id"] in ("left-in", "right-in") and newest["verdict"] is None

        # Paged: the page after the 5th continues with the 6th.
        first = review_api(url, "/api/events", limit=5).json()
        rest = review_api(url, "/api/events", limit=200, before=first[-1]["eventId"]).json()
        assert [e["eventId"] for e in first + rest] == ids[::-1]

        # Filtered by rule, by review, by day (the events' UTC day, and the day before).
        left = review_api(url, "/api/events", limit=200, rule="left-in").json()
        assert left and {e["rule_id"] for e in left} == {"left-in"}
        judged = httpx.post(f"{url}/api/events/{ids[0]}/review", json={"verdict": "correct"},
                            headers={"Authorization": f"Bearer {REVIEW_TOKEN}"}, timeout=10)
        assert judged.status_code == 200, judged.text
        correct = review_api(url, "/api/events", verdict="correct").json()
        assert [e["eventId"] for e in correct] == [ids[0]]
        assert len(review_api(url, "/api/events", limit=200, verdict="none").json()) == len(ids) - 1
        day = str(earlier[0]["timestamp"])[:10]
        assert len(review_api(url, "/api/events", limit=200, day=day).json()) == len(ids)
        assert review_api(url, "/api/events", day="2001-01-01").json() == []

        # The earlier run's snapshots are served from the outbox.
        image = review_api(url, f"/events/{ids[0]}/snapshot.jpg")
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"

        for bad in ({"verdict": "maybe"}, {"day": "yesterday"}, {"limit": "many"}):
            answer = review_api(url, "/api/events", **bad)
            assert answer.status_code == 400 and answer.json()["error"]
