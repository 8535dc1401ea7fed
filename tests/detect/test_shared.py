"""A box's shared models (streamer/detect/shared.py): one session per distinct model file
and options, each camera's own id, classes and confidence on it, and inference calls served
first come, first served, so a camera with a backlog cannot starve another."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support import wait_for
from support.yolo_model import SIZE, make_yolo_onnx

from streamer.config.models import OnnxModelConfig
from streamer.detect import build_detector
from streamer.detect.base import NO_CAMERA, Detector, DetectorContext
from streamer.detect.shared import InferencePool, SharedModels, default_threads, default_workers
from streamer.source import Frame


def queue_while_busy(pool: InferencePool, callers: list[Callable[[], object]]) -> None:
    """Hold the pool's one worker with another camera's call, start each caller in turn
    (each queued before the next starts), then let the worker go and wait for them all."""
    busy, release = threading.Event(), threading.Event()

    def hold() -> None:
        busy.set()
        release.wait(10)

    threads = [threading.Thread(target=pool.run, args=("other", hold))]
    threads[0].start()
    busy.wait(10)
    try:
        for n, caller in enumerate(callers, start=1):
            threads.append(threading.Thread(target=caller))
            threads[-1].start()
            wait_for(lambda n=n: pool.status()["queued"] == n, 10, f"{n} calls queued")
        release.set()
        for thread in threads:
            thread.join(10)
    finally:
        release.set()
        pool.close()


def test_a_backlogged_camera_gets_one_call_per_turn_like_everyone_else() -> None:
    pool = InferencePool(workers=1)
    order: list[str] = []

    def backlog() -> None:  # a file read frame by frame: asks again the moment it is answered
        for _ in range(3):
            pool.run("file", lambda: order.append("file"))

    # The backlog asks first, then two live cameras, while the worker is busy.
    queue_while_busy(pool, [backlog, lambda: pool.run("live-1", lambda: order.append("live-1")),
                            lambda: pool.run("live-2", lambda: order.append("live-2"))])
    # The backlog's next call queues behind both live cameras: one call each per turn.
    assert order == ["file", "live-1", "live-2", "file", "file"]
    assert pool.status()["cameras"]["file"]["calls_total"] == 3  # type: ignore[index]


@pytest.mark.parametrize(("routine_wait_s", "expected"), [
    (30.0, ["moving-1", "moving-2", "still"]),  # a keep-alive lets cameras that move go first
    (0.0, ["still", "moving-1", "moving-2"]),  # ... for a while only: then it takes its turn
])
def test_a_routine_call_lets_the_others_go_first_for_a_while(
        routine_wait_s: float, expected: list[str]) -> None:
    pool = InferencePool(workers=1, routine_wait_s=routine_wait_s)
    order: list[str] = []

    def call(name: str, routine: bool) -> Callable[[], object]:
        return lambda: pool.run(name, lambda: order.append(name), routine)

    queue_while_busy(pool, [call("still", True), call("moving-1", False), call("moving-2", False)])
    assert order == expected


def test_a_failing_call_raises_in_its_camera_and_the_worker_lives_on() -> None:
    pool = InferencePool(workers=1)
    try:
        with pytest.raises(ValueError, match="bad frame"):
            pool.run("a", lambda: (_ for _ in ()).throw(ValueError("bad frame")))
        assert pool.run("b", lambda: 42) == 42
    finally:
        pool.close()


def test_cores_go_to_workers_first_then_to_threads() -> None:
    assert (default_workers(1, cores=2), default_threads(1, cores=2)) == (1, 2)
    assert (default_workers(6, cores=2), default_threads(2, cores=2)) == (2, 1)
    assert (default_workers(6, cores=4), default_threads(4, cores=4)) == (4, 1)
    assert (default_workers(2, cores=4), default_threads(2, cores=4)) == (2, 2)


def test_cameras_with_one_model_file_share_one_session_with_their_own_settings(tmp_path: Path) -> None:
    model = make_yolo_onnx(tmp_path / "m.onnx")
    other = make_yolo_onnx(tmp_path / "other.onnx", seed=1)
    loaded: list[OnnxModelConfig] = []

    def build(config: OnnxModelConfig, context: DetectorContext) -> Detector:
        loaded.append(config)
        return build_detector(config, context)

    shared = SharedModels(InferencePool(workers=2, threads=1), build)  # type: ignore[arg-type]
    try:
        a = shared.detector(OnnxModelConfig(kind="onnx", id="people-a", path=model, confidence=0.1),
                            "dock-a", NO_CAMERA)
        b = shared.detector(OnnxModelConfig(kind="onnx", id="people-b", path=model, confidence=0.9,
                                            classes=["c1"]), "dock-b", NO_CAMERA)
        c = shared.detector(OnnxModelConfig(kind="onnx", id="people", path=other), "gate", NO_CAMERA)
        # Two files, two sessions, each loaded with the box's threads, not the camera's.
        assert [(config.path, config.threads) for config in loaded] == [(model, 1), (other, 1)]
        # two workers: their calls may run at once, so the sessions' threads do not spin
        assert [config.spin_wait for config in loaded] == [False, False]
        frame = Frame(image=np.random.default_rng(0).integers(0, 255, (SIZE * 2, SIZE * 2, 3), np.uint8),
                      index=0, t_s=0.0, wall_ts=0.0)
        found_a, found_b = a.detect(frame), b.detect(frame)
        assert set(found_a.data["model_id"]) <= {"people-a"} and len(found_a) > 0
        assert set(found_b.data["model_id"]) <= {"people-b"}
        assert set(found_b.data["class_name"]) <= {"c1"} and (found_b.confidence >= 0.9).all()
        assert len(found_b) < len(found_a)
        a.close()  # a camera's view closing leaves the session to the others
        assert len(b.detect(frame)) == len(found_b) and len(c.detect(frame)) >= 0
        status = shared.status()
        assert [m["cameras"] for m in status["models"]] == [["dock-a", "dock-b"], ["gate"]]  # type: ignore[index]
        assert status["cameras"]["dock-a"]["calls_total"] == 1  # type: ignore[index]
    finally:
        shared.close()
