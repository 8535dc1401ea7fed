"""Many cameras on one box (deploy/cameras.py): a folder of two configs becomes two services,
each its own process, outbox and monitor port; both run for real and answer on their pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, free_port, make_video, wait_for, write_config, write_replay

pytestmark = pytest.mark.integration

GENERATOR = ROOT / "deploy" / "cameras.py"


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GENERATOR), *args], capture_output=True, text=True,
                          timeout=30)



@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        process.wait(timeout=30)


def test_two_cameras_from_a_folder_run_as_two_processes_with_their_own_ports_and_outboxes(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    folder = tmp_path / "cameras"
    folder.mkdir()
    video = make_video(tmp_path / "clip.mp4", frames=300, fps=10)
    replay = write_replay(tmp_path / "none.jsonl", {})
    for name in ("dock-3", "gate"):
        write_config(folder / f"{name}.yaml", {
            "camera": {"id": name, "source": str(video), "realtime": True, "loop": True},
            "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
            # The default outbox path is relative: each process's own directory holds it.
            "monitor": {"bind": "127.0.0.1:8080"},
        })
    first = free_port(count=2)

    result = generate("compose", str(folder), "--first-port", str(first), "--image", "streamer:test")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]  # JSON is YAML: what compose reads
    assert sorted(services) == ["dock-3", "gate"]
    ports = {name: int(service["environment"]["STREAMER_MONITOR_PORT"]) for name, service in services.items()}
    assert ports == {"dock-3": first, "gate": first + 1}
    volumes = {name: service["volumes"] for name, service in services.items()}
    assert volumes["dock-3"][1] != volumes["gate"][1], "each camera needs its own /data"

    # Run each service's command as its container would: its config as /config/streamer.yaml,
    # its own data directory as the working directory.
    for name, service in services.items():
        config_on_host = service["volumes"][0].split(":")[0]
        command = [config_on_host if arg == "/config/streamer.yaml" else arg for arg in service["command"]]
        data = tmp_path / f"data-{name}"
        data.mkdir()
        processes.append(subprocess.Popen([sys.executable, "-m", "streamer", *command], cwd=data,
                                          env=dict(os.environ, **service["environment"]),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    with httpx.Client(timeout=5) as client:

        def camera_on(port: int) -> dict[str, object] | None:
            try:
                camera = client.get(f"http://127.0.0.1:{port}/api/status").json()["camera"]
            except httpx.TransportError:
                return None
            return camera if camera.get("frames_total") else None

        for name, port in ports.items():
            camera = wait_for(lambda: camera_on(port), 60, f"{name}'s monitor on port {port}")
            assert camera["id"] == name and camera["state"] == "live"
    assert all(process.poll() is None for process in processes), "a camera process ended"
    for name in ports:
        assert (tmp_path / f"data-{name}" / "data" / "outbox.db").exists()

    # The same assignment for systemd: each instance's env file gets its port.
    units = generate("systemd", str(folder), "--first-port", str(first))
    assert units.returncode == 0, units.stderr
    for name, port in ports.items():
        assert f"echo STREAMER_MONITOR_PORT={port} >> /etc/streamer/{name}.env" in units.stdout
        assert f"systemctl enable --now streamer@{name}" in units.stdout


def test_a_config_named_so_that_it_cannot_name_a_container_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dock 3.yaml").write_text("camera: {}\n")
    result = generate("compose", str(tmp_path))
    assert result.returncode == 1
    assert "Dock 3.yaml: name the file after the camera" in result.stderr
    empty = generate("ports", str(tmp_path / "nothing"))
    assert empty.returncode == 1 and "no *.yaml configs" in empty.stderr
