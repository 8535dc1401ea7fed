"""The detector boundary (issue 28): a model that gives NaN, inf or negative-size boxes
costs those boxes only, counted; the frame's good boxes go on to the rules, and the run
never ends for them."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import make_video, read_jsonl, run_cli, write_config
from support.yolo_model import make_constant_onnx

pytestmark = pytest.mark.integration

NAN, INF = float("nan"), float("inf")


def test_invalid_boxes_are_dropped_one_by_one_and_counted(tmp_path: Path) -> None:
    # One good person and three broken boxes in every frame, for 40 frames (> the 25
    # failed frames in a row that end a run).
    model = make_constant_onnx(tmp_path / "broken.onnx", [
        (32, 32, 16, 40, 0.9), (NAN, 20, 10, 10, 0.9), (20, 20, -8, 10, 0.9), (40, 40, INF, 10, 0.9),
    ])
    video = make_video(tmp_path / "clip.mp4", frames=40, size=(64, 64))
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(video)},
        "models": [{"id": "people", "kind": "onnx", "path": str(model), "confidence": 0.5}],
        "rules": [{"id": "someone", "type": "count", "classes": ["person"], "threshold": 1}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    })
    done = run_cli("run", str(config), "--record-detections", str(tmp_path / "frames.jsonl"))
    assert done.returncode == 0, done.stderr[-3000:]
    frames = read_jsonl(tmp_path / "frames.jsonl")
    assert len(frames) == 40
    assert all(len(row["detections"]) == 1 for row in frames), frames[:2]
    [event] = read_jsonl(tmp_path / "events.jsonl")
    assert event["customMetadata"]["rule_id"] == "someone"
    warnings = [line for line in done.stderr.splitlines() if "NaN, inf or a negative size" in line]
    assert len(warnings) == 1 and "dropped (3 so far)" in warnings[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
