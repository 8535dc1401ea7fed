"""Many cameras on one box (deploy/cameras.py): a folder of two configs becomes one service
that runs both cameras in one process, each with its own outbox, one monitor for the box;
the service's command runs for real and both cameras answer on their pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ROOT, cameras_live, free_port, make_video, wait_for, write_config, write_replay

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


def test_a_folder_of_two_cameras_runs_as_one_box_service_with_one_outbox_each(
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
            # Each camera's own monitor section: the box serves one page at --port instead.
            "monitor": {"bind": "127.0.0.1:8080"},
        })
    (folder / "dock-3.env").write_text("CAM_DOCK3_PASSWORD=one\n")
    (folder / "gate.env").write_text("CAM_GATE_PASSWORD=two\n")
    port = free_port()

    result = generate("compose", str(folder), "--port", str(port), "--image", "streamer:test")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]  # JSON is YAML: what compose reads
    (service,) = services.values()
    assert service["environment"]["STREAMER_MONITOR_PORT"] == str(port)
    assert service["env_file"] == [str(folder / "dock-3.env"), str(folder / "gate.env")]

    # Run the service's command as its container would: the folder as /config, its data
    # volume as the working directory.
    command = [str(folder) if arg == "/config" else arg for arg in service["command"]]
    data = tmp_path / "data-volume"
    data.mkdir()
    processes.append(subprocess.Popen([sys.executable, "-m", "streamer", *command], cwd=data,
                                      env=dict(os.environ, **service["environment"]),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    with httpx.Client(timeout=5) as client:
        live = wait_for(lambda: cameras_live(client, port, 2, framed=True), 60,
                        f"both cameras live on port {port}")
        assert live == ["dock-3", "gate"]
        for name in ("dock-3", "gate"):
            camera = client.get(f"http://127.0.0.1:{port}/cameras/{name}/api/status").json()["camera"]
            assert camera["id"] == name and camera["state"] == "live"
    # The container's health probe reads the box's status.
    probe = subprocess.run([sys.executable, str(ROOT / "deploy" / "healthcheck.py")], capture_output=True,
                           text=True, timeout=30, env=dict(os.environ, STREAMER_MONITOR_PORT=str(port)))
    assert probe.returncode == 0 and probe.stdout.startswith("healthy: 2 of 2 cameras"), probe.stdout
    assert all(process.poll() is None for process in processes), "the box process ended"
    for name in ("dock-3", "gate"):
        assert (data / "data" / name / "outbox.db").exists()

    # The same box for systemd: configs installed, secrets in one env file, one unit.
    units = generate("systemd", str(folder), "--port", str(port))
    assert units.returncode == 0, units.stderr
    assert f"install -m 0640 -g streamer {folder / 'gate.yaml'} /etc/streamer/cameras/gate.yaml" in units.stdout
    assert f"CAM_DOCK3_PASSWORD=one\nCAM_GATE_PASSWORD=two\nSTREAMER_MONITOR_PORT={port}\n" in units.stdout
    assert units.stdout.rstrip().endswith("systemctl enable --now streamer-box")


def test_two_cameras_giving_one_secret_two_values_are_refused(tmp_path: Path) -> None:
    for name, password in (("dock-3", "one"), ("gate", "two")):
        (tmp_path / f"{name}.yaml").write_text("camera: {}\n")
        (tmp_path / f"{name}.env").write_text(f"CAM_PASSWORD={password}\n")
    result = generate("compose", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{tmp_path / 'gate.env'}: CAM_PASSWORD is also set, to another value, in dock-3.env; "
        "the cameras of a box share one environment: give each camera's secret its own name")


def test_a_config_named_so_that_it_cannot_name_a_container_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dock 3.yaml").write_text("camera: {}\n")
    result = generate("compose", str(tmp_path))
    assert result.returncode == 1
    assert "Dock 3.yaml: name the file after the camera" in result.stderr
    empty = generate("ports", str(tmp_path / "nothing"))
    assert empty.returncode == 1 and "no *.yaml configs" in empty.stderr
