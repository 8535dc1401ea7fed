"""Bad input ends with one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support import read_jsonl, run_cli, write_config, write_replay

pytestmark = pytest.mark.integration


def base_config(tmp_path: Path, source: str, model: dict[str, object] | None = None) -> Path:
    replay = write_replay(tmp_path / "dets.jsonl", {})
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "cam", "source": source, "open_timeout_s": 3, "read_timeout_s": 3},
        "models": [model or {"id": "people", "kind": "replay", "path": str(replay)}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
    })


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_video_file(tmp_path: Path) -> None:
    """Found with the config (issue 26), before anything opens: exit 2, file:line key."""
    config = base_config(tmp_path, str(tmp_path / "nope.mp4"))
    result = run_cli("run", str(config))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"error: {config}:3 camera.source: no such file or device: {tmp_path / 'nope.mp4'} "
        "(a camera is a device index, a file or an rtsp:// or http(s):// URL)"]


def test_unreachable_rtsp_camera_hides_the_password(tmp_path: Path) -> None:
    """A camera away at start is retried (issue 6); a bounded run that never got a frame
    ends with one error line naming the camera (password masked) and the last reason."""
    port = free_port()
    url = f"rtsp://viewer:hunter2pw@127.0.0.1:{port}/stream1"
    result = run_cli("run", str(base_config(tmp_path, url)), "--duration", "3", timeout=60)
    assert result.returncode == 1
    errors = [line for line in error_lines(result.stderr) if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(
        f"error: camera.source: no frame from rtsp://***@127.0.0.1:{port}/stream1 in 3 s: cannot open stream"
    ), errors[0]
    assert "not reachable yet" in result.stderr  # the warning while it kept retrying
    assert "hunter2pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_video_file_that_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"this is not a video" * 100)
    result = run_cli("run", str(base_config(tmp_path, str(fake))))
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: camera.source:") and str(fake) in line


def test_broken_model_file(tmp_path: Path, video: Path) -> None:
    broken = tmp_path / "person.onnx"
    broken.write_bytes(b"\x00garbage, not a protobuf\xff" * 64)
    model = {"id": "people", "kind": "onnx", "path": str(broken)}
    config = base_config(tmp_path, str(video), model)
    result = run_cli("run", str(config))
    assert result.returncode == 2  # found with the config, before the first frame (issue 26)
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {config}:") and " models[0].path: " in line
    assert f"{broken} is not a readable ONNX model" in line


def test_broken_replay_file_names_its_line(tmp_path: Path, video: Path) -> None:
    replay = tmp_path / "bad.jsonl"
    replay.write_text('{"frame": 0, "detections": []}\n{"frame": 1, "detections": [{"x1": 1}]}\n')
    model = {"id": "people", "kind": "replay", "path": str(replay)}
    config = base_config(tmp_path, str(video), model)
    result = run_cli("run", str(config))
    assert result.returncode == 2  # read with the config: it names the rules' classes
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {config}:") and line.endswith(
        f" models[0].path: {replay}:2: detections[0].class: required key is missing")


def test_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("camera: {source: x.mp4}\nmodels: []\nrulez: []\n")
    result = run_cli("run", str(path))
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert lines[0].startswith(f"error: {path}:")
    assert any("rulez: unknown key" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_sink_path_that_cannot_be_written(tmp_path: Path, video: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = base_config(tmp_path, str(video))
    config.write_text(config.read_text().replace(str(tmp_path / "events.jsonl"), str(blocker / "events.jsonl")))
    result = run_cli("run", str(config))
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: sink 'jsonl': cannot write")
    assert read_jsonl(tmp_path / "events.jsonl") == []


def test_a_bug_keeps_its_traceback_but_not_the_secrets(tmp_path: Path) -> None:
    """A bug (not a user error) prints its traceback through the redacting log handler:
    the camera password, a query value and the API key in the exception's text are masked,
    in the main thread and in a thread that crashes. The bug is injected in the child."""
    import subprocess
    import sys

    config = base_config(tmp_path, "rtsp://admin:pa@ss-77@127.0.0.1:1/s?user=admin&pwd=qv-5150")
    text = config.read_text().replace(
        "sinks:\n", "sinks:\n- type: vision_events\n  api_key: rf-key-8086-xyz\n  use_case: u\n", 1)
    config.write_text(text)
    child = (
        "import sys, threading\n"
        "from streamer.pipeline import Pipeline\n"
        "from streamer.cli import main\n"
        "def broken(self):\n"
        "    url, key = self.config.camera.source, self.config.sinks[0].api_key.get_secret_value()\n"
        "    def crash():\n"
        "        raise OSError(f'thread saw {url}')\n"
        "    worker = threading.Thread(target=crash, name='worker')\n"
        "    worker.start()\n"
        "    worker.join()\n"
        "    raise RuntimeError(f'bug while opening {url} with {key}')\n"
        "Pipeline.run = broken\n"
        f"sys.exit(main(['run', {str(config)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "CRITICAL streamer: internal error" in result.stderr
    assert "RuntimeError: bug while opening rtsp://***@127.0.0.1:1/s?user=***&pwd=*** with ***" in result.stderr
    assert "CRITICAL streamer: thread worker crashed" in result.stderr and "OSError: thread saw" in result.stderr
    for secret in ("pa@ss", "ss-77", "qv-5150", "rf-key-8086"):
        assert secret not in result.stderr + result.stdout, secret
