"""The edge image, for real: built by deploy/build-image.sh from the Dockerfile, run as a user
would run it (config in the read-only /config volume, video and outbox in /data), healthy,
delivering to a local Vision Events server, stopped with SIGTERM with its backlog kept in /data.

Needs Debian's docker.io with a running daemon; the script makes each image's base where no
registry answers (debootstrap). The arm64 image runs here under qemu-user-static (binfmt_misc),
5-20 times slower than natively: its test runs only with ``STREAMER_ARM64_TESTS=1`` (CI runs
it in a step of its own, after building the image in the background). The containers use the
host's network so that they reach the test server on 127.0.0.1 and the test reaches their
monitor there: no traffic leaves this machine, and nothing is downloaded inside a container.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import (
    API_KEY,
    ROOT,
    USE_CASE,
    box,
    cameras_live,
    free_port,
    make_video,
    require_program,
    wait_for,
    write_config,
    write_replay,
)
from support.vision_events_server import VisionEventsServer

from streamer.assets import sample_video
from streamer.events.outbox import Outbox

pytestmark = [pytest.mark.integration, pytest.mark.system]

# Where the arm64 image's (slow, emulated) test runs: CI's own step sets it to `required`.
ARM64_TESTS_ENV = "STREAMER_ARM64_TESTS"
BUILD_SCRIPT = ROOT / "deploy" / "build-image.sh"
# Emulated, everything takes longer: start-up, the first frame, each health probe.
SLOWDOWN = {"amd64": 1, "arm64": 5}


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([require_program("docker", "docker.io", "info"), *args],
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"docker {args[0]}: {result.stderr[-3000:]}"
    return result


def build(arch: str) -> str:
    """``streamer:<arch>`` built from this checkout by deploy/build-image.sh (which also
    times it). The previous build of the tag is removed once replaced, so CI runs do not pile
    up 900 MB images; a fixed tag lets a rebuild reuse the cached layers."""
    tag = f"streamer:{arch}"
    before = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()
    result = subprocess.run(["bash", str(BUILD_SCRIPT), arch], capture_output=True, text=True,
                            timeout=3600)
    assert result.returncode == 0, f"build-image.sh {arch}: {result.stderr[-3000:]}"
    print(result.stdout.strip())  # the base's and the image's timings, the image's size
    after = docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
    if before and before != after:
        docker("rmi", before, check=False)
    return tag


@pytest.fixture(scope="module")
def image() -> str:
    return build("amd64")


@pytest.fixture(scope="module", params=["amd64", "arm64"])
def arch_image(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(architecture, image): the x86 image, and the arm64 one where asked for (its build
    and run are emulated: minutes)."""
    arch: str = request.param
    if arch == "arm64":
        if os.environ.get(ARM64_TESTS_ENV) not in ("1", "required"):
            pytest.skip(f"the arm64 image is built and run under qemu, minutes: set "
                        f"{ARM64_TESTS_ENV}=1 (CI runs it in a step of its own)")
        require_program("qemu-aarch64-static", "qemu-user-static", "--version")
        return arch, build(arch)
    return arch, request.getfixturevalue("image")


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


def volumes(tmp_path: Path) -> tuple[Path, Path]:
    """The folders mounted as the container's /config and /data."""
    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    data_dir.chmod(0o777)  # the image runs as uid 10001 and writes its outbox here
    return config_dir, data_dir


def inspect_state(name: str) -> dict[str, Any]:
    return json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)


def test_container_runs_healthy_delivers_and_keeps_its_backlog_on_sigterm(
    image: str, container_name: str, tmp_path: Path
) -> None:
    config_dir, data_dir = volumes(tmp_path)
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
            assert len(spec["services"]) == 1
            live = wait_for(lambda: cameras_live(client, port, 2), 120, f"both cameras live on port {port}")
            assert live == ["dock-3", "gate"]
    finally:
        compose("down", "-v", "--timeout", "30")


CHECKS = """
import json, platform
import av, cv2, onnxruntime, streamer
cv2.HOGDescriptor_getDefaultPeopleDetector()  # the HOG model ships in this OpenCV build
print(json.dumps({"machine": platform.machine(), "streamer": streamer.__version__,
                  "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__,
                  "providers": onnxruntime.get_available_providers(), "av": av.__version__}))
"""


def hog_site(config_dir: Path, data_dir: Path, api_url: str, monitor_port: int) -> None:
    """A camera on the sample clip (people on bikes), looping as a live one, OpenCV's HOG
    people detector (no model file), a count rule that fires while anyone is in view."""
    shutil.copy(sample_video(), data_dir / "bikes.mp4")
    write_config(config_dir / "streamer.yaml", {
        "device_id": "container-test",
        "camera": {"id": "bikes", "source": "/data/bikes.mp4", "loop": True, "realtime": True},
        "models": [{"id": "people", "kind": "hog", "classes": ["person"]}],
        "rules": [{"id": "someone", "type": "count", "classes": ["person"], "op": ">=",
                   "threshold": 1, "cooldown_s": 5, "event": {"type": "inventory_count"}}],
        "sinks": [{"type": "vision_events", "api_url": api_url, "api_key": API_KEY,
                   "use_case": USE_CASE}],
        "outbox": {"path": "/data/outbox.db"},
        "monitor": {"bind": f"127.0.0.1:{monitor_port}"},
    })


def test_image_runs_on_its_architecture_validates_detects_and_delivers(
    arch_image: tuple[str, str], container_name: str, tmp_path: Path
) -> None:
    """The image's programs are the architecture's own (uname -m inside), its libraries
    import, a config validates, `streamer doctor` answers, the HOG demo runs on a few frames,
    and a camera container reports healthy and delivers an event to Vision Events."""
    arch, tag = arch_image
    slow = SLOWDOWN[arch]
    config_dir, data_dir = volumes(tmp_path)
    port = free_port()
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as server:
        hog_site(config_dir, data_dir, server.url, port)
        mounts = ["-v", f"{config_dir}:/config:ro", "-v", f"{data_dir}:/data"]

        checked = docker("run", "--rm", "--network", "none", *mounts, "--entrypoint", "sh", tag, "-c",
                         f"uname -m && python3 -c '{CHECKS}' && streamer validate /config/streamer.yaml"
                         " && streamer doctor", timeout=120 * slow)
        machine, found, validated, *doctor = checked.stdout.strip().splitlines()
        print(f"{tag}: {found}")
        assert machine == {"amd64": "x86_64", "arm64": "aarch64"}[arch]
        assert json.loads(found)["machine"] == machine
        assert "CPUExecutionProvider" in json.loads(found)["providers"]
        assert validated.startswith("/config/streamer.yaml: ok"), checked.stdout
        assert any(line.startswith("gpu:") and "none" in line for line in doctor), doctor
        assert any(line.startswith("cpu:") and machine in line for line in doctor), doctor

        # The demo, as a user tries it first: the HOG detector on a few frames (the sample
        # clip from the data volume's cache: nothing is downloaded). Its events need ~40
        # frames, minutes under emulation: the camera below delivers one instead.
        (data_dir / "cache").mkdir()
        shutil.copy(sample_video(), data_dir / "cache" / "bikes.mp4")
        demo = docker("run", "--rm", "--network", "none", "-v", f"{data_dir}:/data", tag, "demo",
                      "--detector", "hog", "--max-frames", "15", "--out", "/data/demo",
                      "--monitor", "off", "--drain-s", "2", timeout=120 * slow)
        frames = re.search(r"frames: 15 in ([\d.]+) s \(([\d.]+) fps\)", demo.stdout)
        assert frames, demo.stdout + demo.stderr[-2000:]
        print(f"{tag}: demo --detector hog, 15 frames at {frames.group(2)} fps"
              + (" (emulated)" if arch != "amd64" else ""))
        assert "summary:" in demo.stdout and (data_dir / "demo" / "demo_annotated.mp4").stat().st_size

        started = time.monotonic()
        docker("run", "-d", "--name", container_name, "--network", "host",
               # The image's own HEALTHCHECK command, probed every 2 s instead of 30; an
               # emulated probe (a Python start under qemu) can outlast the image's 10 s.
               "--health-interval", "2s", "--health-start-period", "0s",
               "--health-timeout", f"{10 * slow}s",
               "-e", f"STREAMER_MONITOR_PORT={port}", *mounts, tag)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            def live() -> bool:
                try:
                    return client.get("/api/status").json()["camera"]["state"] == "live"
                except httpx.TransportError:
                    assert inspect_state(container_name)["Running"], docker("logs", container_name).stderr
                    return False

            wait_for(live, 60 * slow, "the camera live at /api/status")
            print(f"{tag}: docker run to a live camera: {time.monotonic() - started:.1f} s")
            wait_for(lambda: server.events, 60 * slow, "an event at the Vision Events server")
            wait_for(lambda: inspect_state(container_name)["Health"]["Status"] == "healthy",
                     60 * slow, "the HEALTHCHECK reporting healthy")
    event = next(iter(server.events.values()))
    assert event["deviceId"] == "container-test" and event["streamId"] == "bikes"
    assert event["images"][0]["objectDetections"][0]["class"] == "person"
    docker("stop", "--time", "30", container_name, timeout=60)
    assert inspect_state(container_name)["ExitCode"] == 0, docker("logs", container_name).stderr[-3000:]
