"""A box: several cameras' configs run by one ``streamer run`` in one process, each
camera's events in its own sink and outbox, and two cameras on one outbox refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import make_video, read_jsonl, run_cli, scene, walker

pytestmark = pytest.mark.integration


def camera(tmp_path: Path, name: str, rows: dict[int, list[dict[str, Any]]]) -> tuple[Path, Path]:
    """A file camera with a replay detector: its config and its JSONL sink."""
    folder = tmp_path / name
    folder.mkdir()
    video = make_video(folder / "clip.mp4")
    events = folder / "events.jsonl"
    config = scene(folder, video, rows, [{"type": "jsonl", "path": str(events)}])
    text = config.read_text().replace("id: dock-3", f"id: {name}")
    config.write_text(text)
    return config, events


def test_two_cameras_one_command_each_keeps_its_own_events(tmp_path: Path) -> None:
    # Camera a: one walker crossing into the zone; camera b: two of them, later.
    a_config, a_events = camera(tmp_path, "dock-a", walker(range(0, 40), 200, 10, y1=100))
    b_rows = walker(range(10, 50), 200, 10, y1=100)
    for frame, boxes in walker(range(15, 55), 150, 10, y1=200).items():
        b_rows.setdefault(frame, []).extend(boxes)
    b_config, b_events = camera(tmp_path, "dock-b", b_rows)

    done = run_cli("run", str(a_config), str(b_config), "--monitor", "off", "--drain-s", "5")

    assert done.returncode == 0, done.stderr
    a, b = read_jsonl(a_events), read_jsonl(b_events)
    assert [e["streamId"] for e in a] == ["dock-a"]
    assert [e["streamId"] for e in b] == ["dock-b", "dock-b"]
    assert {e["customMetadata"]["rule_id"] for e in a + b} == {"lane-intrusion"}
    # The same events as each camera run alone.
    for config, events, expected in ((a_config, a_events, 1), (b_config, b_events, 2)):
        alone = run_cli("run", str(config), "--monitor", "off", "--drain-s", "5")
        assert alone.returncode == 0, alone.stderr
        again = read_jsonl(events)[-expected:]
        assert [e["customMetadata"]["track_id"] for e in again] == [
            e["customMetadata"]["track_id"] for e in (a if expected == 1 else b)]
        assert [e["eventData"] for e in again] == [e["eventData"] for e in (a if expected == 1 else b)]
    assert "camera dock-a" in done.stdout and "camera dock-b" in done.stdout


def test_a_folder_of_configs_runs_every_camera(tmp_path: Path) -> None:
    a_config, a_events = camera(tmp_path, "dock-a", walker(range(0, 40), 200, 10, y1=100))
    b_config, b_events = camera(tmp_path, "dock-b", walker(range(0, 40), 200, 10, y1=100))
    folder = tmp_path / "cameras"
    folder.mkdir()
    (folder / "dock-a.yaml").write_text(a_config.read_text())
    (folder / "dock-b.yaml").write_text(b_config.read_text())

    done = run_cli("run", str(folder), "--monitor", "off", "--drain-s", "5")

    assert done.returncode == 0, done.stderr
    assert [e["streamId"] for e in read_jsonl(a_events)] == ["dock-a"]
    assert [e["streamId"] for e in read_jsonl(b_events)] == ["dock-b"]


def test_two_cameras_on_one_outbox_are_refused_in_one_line(tmp_path: Path) -> None:
    a_config, _ = camera(tmp_path, "dock-a", walker(range(0, 5), 10, 5))
    b_config, b_events = camera(tmp_path, "dock-b", walker(range(0, 40), 200, 10, y1=100))
    shared = tmp_path / "dock-a" / "outbox.db"
    b_config.write_text(b_config.read_text().replace(str(tmp_path / "dock-b" / "outbox.db"), str(shared)))

    done = run_cli("run", str(a_config), str(b_config), "--monitor", "off")

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {b_config} outbox.path: {shared} is also {a_config}'s outbox; "
        "each camera of a box needs its own outbox file"
    ]
    assert not b_events.exists() and not shared.exists()


@pytest.mark.system
def test_a_killed_and_a_hung_camera_do_not_slow_the_others(tmp_path: Path) -> None:
    """Four RTSP cameras at 10 fps share one ONNX model; one server is killed and one
    frozen (SIGSTOP: the socket stays open and goes silent). The two healthy cameras keep
    their rate within 5 %, and the other two report their outage."""
    import threading
    import time

    from support import wait_for, write_config
    from support.rtsp import FAST, RtspServer, make_clip
    from support.yolo_model import make_yolo_onnx

    from streamer.config import load_config
    from streamer.pipeline import RunOptions
    from streamer.pipeline.box import Box

    clip = make_clip(tmp_path / "moving.h264", fps=10, seconds=4)
    model = make_yolo_onnx(tmp_path / "model.onnx")
    servers = [RtspServer(clip, fps=10).start() for _ in range(4)]
    names = ["healthy-1", "healthy-2", "killed", "hung"]
    configs = []
    for name, server in zip(names, servers):
        folder = tmp_path / name
        folder.mkdir()
        path = write_config(folder / "camera.yaml", {
            "camera": {"id": name, "source": server.url(), **FAST},
            "models": [{"id": "objects", "kind": "onnx", "path": str(model), "confidence": 0.3}],
            "rules": [{"id": "any", "type": "count", "classes": ["c0"], "op": ">=", "threshold": 1,
                       "cooldown_s": 5, "event": {"type": "inventory_count"}}],
            "sinks": [{"type": "jsonl", "path": str(folder / "events.jsonl")}],
            "outbox": {"path": str(folder / "outbox.db")},
        })
        configs.append((path, load_config(path)))
    stop = threading.Event()
    lines: list[str] = []
    box = Box(configs, RunOptions(progress_s=3600, drain_s=0), stop=stop, report=lines.append,
              monitor=None, workers=1)
    thread = threading.Thread(target=box.run, daemon=True)
    try:
        thread.start()
        cams = {camera.id: camera for camera in box.cameras}

        def rate(seconds: float) -> dict[str, float]:
            before = {n: cams[n].pipeline.summary.frames for n in names[:2]}
            started = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            return {n: (cams[n].pipeline.summary.frames - before[n]) / elapsed for n in names[:2]}

        wait_for(lambda: all(c.pipeline.summary.frames >= 30 for c in box.cameras), 30, "frames")
        time.sleep(2)  # past the burst of frames buffered while the streams opened
        healthy = rate(6)
        servers[2].kill()
        servers[3].pause()
        during = rate(6)
        # The outage is real: both cameras say so, and stopped delivering frames.
        status = {c["id"]: c for c in box.status()["cameras"]}  # type: ignore[index]
        assert status["killed"]["state"] == "offline"
        assert status["hung"]["state"] in ("stalled", "offline")
        inference = box.status()["box"]["inference"]  # type: ignore[index]
        assert [m["cameras"] for m in inference["models"]] == [names]  # one model in memory
        for name in names[:2]:
            assert healthy[name] > 8.5, healthy  # keeping up with the 10 fps cameras
            assert during[name] >= 0.95 * healthy[name], (healthy, during)
    finally:
        stop.set()
        thread.join(30)
        for server in servers:
            server.kill()
    assert not thread.is_alive()
