"""Helpers shared by the tests: synthetic videos, replay files and configs written to tmp dirs,
the real CLI in a subprocess, system programs that a test needs, events as a sink receives them.

Everything here is real: files on disk, the real CLI in a subprocess, real servers on
127.0.0.1. Nothing of ours is mocked. The fixtures that every test gets live in
``tests/conftest.py``; the servers and larger helpers are this package's modules
(``support.rtsp``, ``support.vision_events_server``, ...).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import cv2
import httpx
import numpy as np
import pytest
import yaml

from streamer.config import load_config
from streamer.events.record import INPUT_IMAGE_KEY, EventRecord
from streamer.plugins import PLUGINS, Plugins
from streamer.runtime import RunOptions, Runtime

ROOT = Path(__file__).resolve().parents[2]
# `.ci/run` installs every system program first and sets this: a missing one fails there.
SYSTEM_TESTS_ENV = "STREAMER_SYSTEM_TESTS"
# ... and this where it installed an optional extra (the roboflow venv).
EXTRA_TESTS_ENV = "STREAMER_EXTRA_TESTS"
# Programs outside a non-root PATH (Debian puts mosquitto and dockerd in sbin).
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
T = TypeVar("T")


@functools.cache
def _program_problem(name: str, check: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(path, None) when ``name`` is there and ``name *check`` exits 0, else (None, why).
    Cached: the RTSP checks start a Python each, and the answer does not change in a run."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        return None, f"{name} not found"
    if check:
        try:
            result = subprocess.run([path, *check], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return None, f"`{name} {' '.join(check)}` timed out"
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
            return None, f"`{Path(name).name} {check[0]}` failed ({last[:160]})"
    return path, None


def require_program(name: str, package: str, *check: str) -> str:
    """The path of system program ``name`` (a test that needs one calls this first).

    Missing, or ``name *check`` failing: the test is skipped with one line naming the
    Debian package, so the README's test command passes on any machine; with
    ``STREAMER_SYSTEM_TESTS=required`` (CI, after installing them) it fails instead, so
    CI cannot go green by skipping."""
    path, problem = _program_problem(name, check)
    if path is not None:
        return path
    _missing(f"{problem}: apt-get install {package}", SYSTEM_TESTS_ENV)


def require_module(module: str, extra: str) -> None:
    """Skip, naming the extra to install, when ``module`` (an optional extra's package) is
    absent: the default test venv has what a user's plain install has. With
    ``STREAMER_EXTRA_TESTS=required`` (the extra's own venv in `.ci/run`) it fails instead."""
    if importlib.util.find_spec(module) is not None:
        return
    _missing(f"{module} is not installed: the {extra!r} extra's tests need "
             f"pip install -e '.[test,{extra}]'", EXTRA_TESTS_ENV)


def _missing(message: str, required_env: str) -> None:
    """Skip with ``message``, or fail where ``required_env=required`` says it must be there."""
    if os.environ.get(required_env) == "required":
        pytest.fail(f"{message} ({required_env}=required)", pytrace=False)
    pytest.skip(message)


def wait_for(condition: Callable[[], T], timeout: float, what: str = "condition") -> T:
    """The first truthy value of ``condition()``, polled until ``timeout`` seconds; past it
    the test fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.05)


def cameras_live(client: httpx.Client, port: int, count: int,
                 framed: bool = False) -> list[str] | None:
    """The ids of the cameras live on a box's monitor at ``port`` once ``count`` of them are
    (``framed``: and have shown a frame); None before then, or while nothing answers there.
    A condition for :func:`wait_for`."""
    try:
        cameras = client.get(f"http://127.0.0.1:{port}/api/status").json()["cameras"]
    except httpx.TransportError:
        return None
    live = [c["id"] for c in cameras if c["state"] == "live" and (not framed or c["frames_total"])]
    return live if len(live) == count else None


def free_port(count: int = 1) -> int:
    """A loopback port nobody listens on (for servers and monitors the test starts); with
    ``count``, the first of that many consecutive free ones (deploy/cameras.py numbers
    cameras' ports consecutively)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first = int(sock.getsockname()[1])
        if all(_bindable(first + i) for i in range(1, count)):
            return first
    raise AssertionError(f"no {count} consecutive free ports")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def make_video(path: Path, frames: int = 60, fps: float = 10.0, size: tuple[int, int] = (640, 360)) -> Path:
    """A small real MP4: a grey gradient with the frame number drawn on it."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    base = np.tile(np.linspace(40, 200, width, dtype=np.uint8), (height, 1))
    for index in range(frames):
        image = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR)
        cv2.putText(image, str(index), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 255), 2)
        writer.write(image)
    writer.release()
    return path


def video_frames(path: Path, limit: int, start: int = 0) -> list[np.ndarray]:
    """Up to ``limit`` BGR frames of the video at ``path`` from frame ``start`` on; the test
    fails when it gives none."""
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    assert frames, f"no frames read from {path}"
    return frames


def write_replay(path: Path, rows: dict[int, list[dict[str, Any]]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for frame in sorted(rows):
            handle.write(json.dumps({"frame": frame, "detections": rows[frame]}) + "\n")
    return path


def box(cls: str, x1: float, y1: float, x2: float, y2: float, confidence: float = 0.9) -> dict[str, Any]:
    return {"class": cls, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "confidence": confidence}


def walker(frames: Sequence[int], x_start: float, x_step: float, y1: float = 150, height: float = 110,
           width: float = 40, cls: str = "person") -> dict[int, list[dict[str, Any]]]:
    """One object moving right by ``x_step`` px per frame over ``frames``."""
    return {f: [box(cls, x_start + i * x_step, y1, x_start + i * x_step + width, y1 + height)]
            for i, f in enumerate(frames)}


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def edit_config(path: Path, **sections: Any) -> Path:
    """The config file at ``path`` with these top-level sections set (added or replaced)."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.update(sections)
    return write_config(path, config)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real ``streamer`` CLI in a subprocess (``python -m streamer``)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "streamer", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def best_iou(boxes: np.ndarray, target: Sequence[float]) -> float:
    """Highest IoU of any of ``boxes`` (xyxy) with ``target``; 0 when there are none."""
    import supervision as sv

    if len(boxes) == 0:
        return 0.0
    return float(sv.box_iou_batch(np.asarray(boxes, dtype=float), np.asarray([target], dtype=float)).max())


# Events as the outbox hands them to a sink (the sink and delivery tests).
API_KEY = "test-key-0123456789"
USE_CASE = "site-safety"


def tiny_jpeg(seed: int = 0) -> bytes:
    """A real 16x12 JPEG, different per seed so tests can tell uploads apart."""
    image = np.full((12, 16, 3), seed % 256, dtype=np.uint8)
    image[2:6, 3:9] = (0, 0, 255)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def make_record(n_images: int = 1, **overrides: Any) -> EventRecord:
    """An event as the outbox hands it over: payload without sourceIds, JPEGs beside it."""
    event_id = str(uuid.uuid4())
    payload: dict[str, Any] = {
        "eventId": event_id,
        "eventType": "safety_alert",
        "timestamp": "2025-05-01T12:00:00.250Z",
        "deviceId": "edge-box-07",
        "streamId": "dock-3",
        "images": [
            {
                "label": f"snapshot-{i}",
                "objectDetections": [
                    {"class": "person", "x": 40.5, "y": 80.0, "width": 30.0, "height": 120.0,
                     "confidence": 0.91},
                ],
            }
            for i in range(n_images)
        ],
        "eventData": {"alertType": "zone_intrusion", "severity": "high",
                      "description": "Person in forklift lane"},
        "customMetadata": {"rule_id": "lane-intrusion", "zone": "forklift-lane", "track_id": 7},
    }
    payload.update(overrides)
    return EventRecord(
        event_id=event_id,
        payload=payload,
        images=[tiny_jpeg(i + 1) for i in range(n_images)],
        created_ts=1_746_100_800.0,
        rule_id="lane-intrusion",
    )



def with_raw_frame(record: EventRecord) -> EventRecord:
    """The record as the writer stores it with upload_input_image: snapshot + raw frame."""
    payload = json.loads(json.dumps(record.payload))
    payload["images"][0][INPUT_IMAGE_KEY] = 1
    return EventRecord(record.event_id, payload, [record.images[0], tiny_jpeg(99)],
                       record.created_ts, record.rule_id)


# The pipeline scene: video 640x360 at 10 fps, the zone is the right half; a walker's foot
# (bottom centre) crosses x = 320 between frames. Frame time = index / 10.
RIGHT_HALF = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]


def scene(tmp_path: Path, video: Path, rows: dict[int, list[dict[str, Any]]], sinks: list[dict[str, Any]],
          **rule: Any) -> Path:
    replay = write_replay(tmp_path / "dets.jsonl", rows)
    zone_rule = {"id": "lane-intrusion", "type": "zone", "zone": "lane", "classes": ["person"],
                 "min_frames": 3, "cooldown_s": 30,
                 "event": {"type": "safety_alert", "alert_type": "zone_intrusion", "severity": "high",
                           "description": "{class} #{track_id} in {zone}"}}
    zone_rule.update(rule)
    return write_config(tmp_path / "site.yaml", {
        "device_id": "edge-box-07",
        "camera": {"id": "dock-3", "source": str(video)},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "zones": [{"id": "lane", "polygon": RIGHT_HALF}],
        "rules": [zone_rule],
        "sinks": sinks,
        "outbox": {"path": str(tmp_path / "outbox.db")},
    })


def run_in_process(config_path: Path, plugins: Plugins = PLUGINS, **options: Any) -> Any:
    """The whole runtime in this process on ``config_path``; returns its summary.

    ``plugins``: the detectors, rules and sinks the file may name (a test's own sink)."""
    return Runtime(load_config(config_path, plugins=plugins), RunOptions(progress_s=60, **options),
                   report=lambda line: None).run()


def crowded_record(n: int) -> EventRecord:
    """An event whose one image has ``n`` boxes, confidences spread over (0, 1]."""
    detections = [{"class": "person", "x": 10.0 + i % 50, "y": 20.0, "width": 4.0,
                   "height": 8.0, "confidence": round((i + 1) / n, 4)} for i in range(n)]
    record = make_record()
    payload = {**record.payload,
               "images": [{"label": "snapshot", "objectDetections": detections[::-1]}]}
    return EventRecord(record.event_id, payload, record.images, record.created_ts, "r")


def noisy_jpeg(seed: int, size: int = 160) -> bytes:
    """A JPEG that does not compress away: ~20 KB of noise."""
    image = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return data.tobytes()


@contextmanager
def running(config_path: Path, start_s: float = 15.0, stop_s: float = 20.0,
            **options: Any) -> Iterator[tuple[Runtime, str]]:
    """A runtime on its own thread until the block ends; yields it and its monitor URL
    (the monitor must be up within ``start_s``, the run over within ``stop_s`` of the stop)."""
    stop = threading.Event()
    settings = {"progress_s": 3600, "drain_s": 0, **options}
    runtime = Runtime(load_config(config_path), RunOptions(**settings), stop=stop,
                      report=lambda line: None)
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    monitor = wait_for(lambda: runtime.monitor, start_s, "the monitor")
    try:
        yield runtime, monitor.url.rstrip("/")
    finally:
        stop.set()
        thread.join(stop_s)
        assert not thread.is_alive()


@contextmanager
def phone_page(playwright: Any, chromium: str) -> Iterator[Any]:
    """A page in Debian's headless Chromium (``chromium``: its path) at a phone's size."""
    browser = playwright.chromium.launch(
        executable_path=chromium,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run"],
    )
    try:
        yield browser.new_page(viewport={"width": 390, "height": 844})
    finally:
        browser.close()


def write_module(path: Path, source: str) -> ModuleType:
    """``source`` written to the Python file ``path`` and imported as a module named by its
    stem (a test's throwaway plugin, kept outside the package)."""
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # pydantic resolves the module's annotations by name
    spec.loader.exec_module(module)
    return module
