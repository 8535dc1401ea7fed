"""``camera.detect_source``: the models read a second, smaller stream of the same camera;
events, snapshots and the live view keep the main stream's pixels (boxes scaled up).

Two real video files of one scripted scene (tests/support/scripted_scene.py), 640x480 and
320x240, through the real pipeline with a detector that looks at the pictures it gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import yaml
from support.scripted_scene import PERSON_H, PERSON_W, PLUGINS_WITH_REDBOX, frames

from streamer.config import parse_config
from streamer.pipeline import RunOptions, build_pipeline


def walk_in_and_stand(t_s: float) -> list[tuple[float, float]]:
    """Feet from x=20 to x=480 over 4 s at y=400 (640x480 pixels), then still there."""
    return [(20 + min(t_s, 4.0) * 115.0, 400.0)]


def write(path: Path, scale: float) -> Path:
    size = (int(640 * scale), int(480 * scale))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened()
    for frame in frames(walk_in_and_stand, 8, width=640, height=480, scale=scale):
        writer.write(frame.image)
    writer.release()
    return path


def run(tmp_path: Path, detect_source: str | None, detect: dict[str, Any]) -> tuple[Any, list[Any]]:
    camera: dict[str, Any] = {"id": "dock", "source": str(write(tmp_path / "main.avi", 1.0))}
    if detect_source is not None:
        camera["detect_source"] = detect_source
    doc = {
        "device_id": "box",
        "camera": camera,
        "models": [{"id": "people", "kind": "redbox"}],
        "detect": detect,
        "zones": [{"id": "dock", "polygon": [[0.6, 0.5], [0.95, 0.5], [0.95, 0.95], [0.6, 0.95]]}],
        "rules": [{"id": "enter", "type": "zone", "zone": "dock", "classes": ["person"]}],
        "monitor": {"enabled": False},
    }
    config = parse_config(yaml.safe_dump(doc), "site.yaml", env={}, plugins=PLUGINS_WITH_REDBOX)
    events: list[Any] = []
    options = RunOptions(monitor=False, deliver=False, progress_s=3600,
                         on_step=lambda frame, fired, s: events.extend((frame, e) for e in fired))
    pipeline = build_pipeline(config, options, report=lambda line: None)
    summary = pipeline.run()
    assert summary.frames == 80
    return pipeline, events


def test_the_models_see_the_sub_stream_and_events_get_main_stream_boxes(tmp_path: Path) -> None:
    sub = write(tmp_path / "sub.avi", 0.5)
    pipeline, events = run(tmp_path, str(sub), {"motion": True})
    detector = pipeline.step.detectors.slots[0].detector
    assert detector.sizes and set(detector.sizes) == {(320, 240)}
    ((frame, event),) = events
    assert frame.width == 640 and event.rule_id == "enter"
    x1, y1, x2, y2 = (float(v) for v in event.detections.xyxy[0])
    # The box the detector found on the half-size picture, in main-stream pixels.
    assert abs((x2 - x1) - PERSON_W) <= 3 and abs((y2 - y1) - PERSON_H) <= 3
    assert abs(y2 - 400) <= 3 and 380 < (x1 + x2) / 2 < 480
    status = pipeline.step.status()["detect"]["detect_source"]
    assert status["width"] == 320 and status["paired_total"] == 80
    # Gated on the sub-stream's motion too: the still person costs only the keep-alive.
    assert pipeline.step.gate.runs_total < 40


def test_without_a_detect_source_the_models_see_the_main_stream(tmp_path: Path) -> None:
    pipeline, events = run(tmp_path, None, {"motion": True})
    detector = pipeline.step.detectors.slots[0].detector
    assert set(detector.sizes) == {(640, 480)}
    assert [e.rule_id for _, e in events] == ["enter"]
