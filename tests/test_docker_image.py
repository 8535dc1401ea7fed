"""The edge image, for real: built from the Dockerfile, run as a user would run it (config in
the read-only /config volume, video and outbox in /data), healthy, delivering to a local
Vision Events server, stopped with SIGTERM with its backlog kept in /data.

Needs Debian's docker.io with a running daemon and the Dockerfile's base image (`.ci/run`
makes it without a registry: `.ci/docker-base`). The container uses the host's network so
that it reaches the test server on 127.0.0.1 and the test reaches its monitor there: no
traffic leaves this machine, and the replay detector means nothing is downloaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import (
    API_KEY,
    ROOT,
    USE_CASE,
    box,
    free_port,
    make_video,
    require_program,
    wait_for,
    write_config,
    write_replay,
)
from streamer.events.outbox import Outbox
from vision_events_server import VisionEventsServer

pytestmark = [pytest.mark.integration, pytest.mark.system]

# A fixed tag: a rebuild reuses the cached layers, and CI keeps one image, not one per run.
TAG = "streamer:test"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([require_program("docker", "docker.io", "info"), *args],
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"docker {args[0]}: {result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from this checkout (the test also times it). The previous build of
    the tag is removed once replaced, so CI runs do not pile up 900 MB images."""
    before = docker("image", "inspect", "--format", "{{.Id}}", TAG, check=False).stdout.strip()
    started = time.monotonic()
    built = docker("build", "-q", "-t", TAG, str(ROOT), timeout=1800).stdout.strip().splitlines()[-1]
    print(f"docker build: {time.monotonic() - started:.0f} s")
    if before and before != built:
        docker("rmi", before, check=False)
    return TAG


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"streamer-test-{uuid.uuid4().hex[:8]}"
    yield name
    docker("rm", "-f", name, check=False)


def site(config_dir: Path, data_dir: Path, api_url: str, monitor_port: int) -> None:
    """A camera on a looping file in /data: a person there for 10 frames in every 20, so the
    count rule fires every 2 s of video, for as long as the container runs."""
    make_video(data_dir / "clip.mp4", frames=100, fps=10)
    write_replay(data_dir / "dets.jsonl",
                 {i: [box("person", 100, 60, 140, 200)] for i in range(100) if (i // 10) % 2 == 0})
    write_config(config_dir / "streamer.yaml", {
        "device_id": "container-test",
        "camera": {"id": "dock-3", "source": "/data/clip.mp4", "loop": True, "realtime": True},
        "models": [{"id": "people", "kind": "replay", "path": "/data/dets.jsonl"}],
        "rules": [{"id": "someone", "type": "count", "op": ">=", "threshold": 1, "clear_s": 0.1,
                   "cooldown_s": 0, "event": {"type": "inventory_count"}}],
        "sinks": [{"type": "vision_events", "api_url": api_url, "api_key": API_KEY,
                   "use_case": USE_CASE}],
        "outbox": {"path": "/data/outbox.db"},
        "monitor": {"bind": f"127.0.0.1:{monitor_port}"},
    })


def inspect_state(name: str) -> dict[str, Any]:
    return json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)


def test_container_runs_healthy_delivers_and_keeps_its_backlog_on_sigterm(
    image: str, container_name: str, tmp_path: Path
) -> None:
    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    data_dir.chmod(0o777)  # the image runs as uid 10001 and writes its outbox here
    port = free_port()
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as server:
        site(config_dir, data_dir, server.url, port)
        started = time.monotonic()
        docker("run", "-d", "--name", container_name, "--network", "host",
               # The image's own HEALTHCHECK command, probed every 2 s instead of 30.
               "--health-interval", "2s", "--health-start-period", "0s",
               "-e", f"STREAMER_MONITOR_PORT={port}",
               "-v", f"{config_dir}:/config:ro", "-v", f"{data_dir}:/data", image)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            def status() -> dict[str, Any] | None:
                try:
                    return client.get("/api/status").json()
                except httpx.TransportError:
                    assert inspect_state(container_name)["Running"], docker("logs", container_name).stderr
                    return None

            first = wait_for(status, 120, "/api/status from outside the container")
            print(f"docker run to /api/status: {time.monotonic() - started:.1f} s")
            assert first["camera"]["id"] == "dock-3"
            wait_for(lambda: server.events, 60, "an event at the Vision Events server")
            assert docker("exec", container_name, "id", "-u").stdout.strip() == "10001"
            wait_for(lambda: inspect_state(container_name)["Health"]["Status"] == "healthy", 60,
                     "the HEALTHCHECK reporting healthy")
            # The uplink goes away: new events stay pending in the outbox in /data.
            server.stop()
            pending = wait_for(lambda: (status() or {}).get("sinks", {}).get("vision_events", {})
                               .get("pending", 0), 30, "an event pending")
        docker("stop", "--time", "30", container_name, timeout=60)  # SIGTERM, then 30 s grace
    state = inspect_state(container_name)
    assert state["ExitCode"] == 0 and not state["OOMKilled"], docker("logs", container_name).stderr[-3000:]
    # Nothing accepted is lost: what reached the server is marked delivered (an answer cut
    # by the stop may leave one there and pending), the rest waits in /data for the next start.
    outbox = Outbox(data_dir / "outbox.db")
    try:
        counts, total = outbox.counts()["vision_events"], outbox.events_total()
    finally:
        outbox.close()
    assert counts["dead"] == 0
    assert counts["pending"] >= pending
    assert 1 <= counts["delivered"] <= len(server.events)
    assert counts["delivered"] + counts["pending"] == total


def test_compose_file_from_a_folder_runs_one_box_container_for_every_camera(image: str, tmp_path: Path) -> None:
    """deploy/cameras.py's compose file, run by Debian's docker-compose: two cameras, one
    container, both live on the box's monitor port."""
    compose_bin = require_program("docker-compose", "docker-compose")
    media = tmp_path / "media"
    media.mkdir()
    make_video(media / "clip.mp4", frames=100, fps=10)
    write_replay(media / "dets.jsonl", {})
    folder = tmp_path / "cameras"
    folder.mkdir()
    for name in ("dock-3", "gate"):
        write_config(folder / f"{name}.yaml", {
            "camera": {"id": name, "source": "/media/clip.mp4", "loop": True, "realtime": True},
            "models": [{"id": "people", "kind": "replay", "path": "/media/dets.jsonl"}],
        })
    port = free_port()
    generated = subprocess.run([sys.executable, str(ROOT / "deploy" / "cameras.py"), "compose", str(folder),
                                "--image", image, "--port", str(port)],
                               capture_output=True, text=True, timeout=30, check=True)
    spec = json.loads(generated.stdout)
    for service in spec["services"].values():
        service["volumes"].append(f"{media}:/media:ro")  # the site's own media, for this test
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(json.dumps(spec))
    project = ["-p", f"streamer-test-{uuid.uuid4().hex[:8]}", "-f", str(compose_file)]

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([compose_bin, *project, *args], capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    compose("up", "-d")
    try:
        with httpx.Client(timeout=5) as client:

            def live() -> list[str] | None:
                try:
                    cameras = client.get(f"http://127.0.0.1:{port}/api/status").json()["cameras"]
                except httpx.TransportError:
                    return None
                ids = [c["id"] for c in cameras if c["state"] == "live"]
                return ids if len(ids) == 2 else None

            assert len(spec["services"]) == 1
            assert wait_for(live, 120, f"both cameras live on port {port}") == ["dock-3", "gate"]
    finally:
        compose("down", "-v", "--timeout", "30")
