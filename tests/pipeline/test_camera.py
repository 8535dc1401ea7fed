"""The tamper states through the whole pipeline (issue 27): a clip of real footage, paced as
a camera, knocked sideways for 8 s gives one ``moved`` camera-health event with its shift
and one ``live`` when it is back, through the sinks; ``/api/status``, ``/metrics`` and the
live picture show it while it lasts.

Integration: the footage is fetched by a subprocess on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import supervision as sv
from prometheus_client import generate_latest
from support import read_jsonl, write_config
from support.tamper_footage import play, shifted, vtest, write_clip

from streamer.config import load_config
from streamer.pipeline import RunOptions, build_pipeline
from streamer.source.view import reference_path

pytestmark = pytest.mark.integration

LANE = [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]
MOVED_RED = np.array([64, 32, 255])  # the overlay's alert colour (BGR): places where they now fall


def site(tmp_path: Path, clip: Path, realtime: bool = False, **tamper: Any) -> Path:
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(clip), "realtime": realtime,
                   "tamper": {"enabled": True, **tamper}},
        "models": [{"id": "people", "kind": "replay", "path": str(tmp_path / "none.jsonl")}],
        "zones": [{"id": "lane", "polygon": LANE}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
    })


def test_a_knocked_camera_is_moved_then_live_through_sinks_status_metrics_and_picture(tmp_path: Path) -> None:
    footage = vtest()
    clip = write_clip(tmp_path / "knocked.mp4", play(footage, 18.0, shifted(0.10), at_s=4.0, until_s=12.0), 10.0)
    seen: dict[str, Any] = {}
    pipelines: list[Any] = []

    def on_step(frame: Any, fired: Any, step_s: float) -> None:
        status = pipelines[0].status()["camera"]
        if status["state"] == "moved" and "status" not in seen:
            seen["status"] = status
            seen["metrics"] = generate_latest(pipelines[0].metrics.registry).decode()
            seen["picture"] = pipelines[0].step.draw_live(frame, sv.Detections.empty())
        if status["state"] == "live" and frame.t_s < 4:
            seen["before"] = pipelines[0].step.draw_live(frame, sv.Detections.empty())

    config = site(tmp_path, clip, realtime=True, every_s=1.0, moved_hold_s=2.0)
    pipelines.append(build_pipeline(load_config(config),
                                    RunOptions(progress_s=60, drain_s=5, on_step=on_step), report=lambda line: None))
    pipelines[0].run()

    health = [e for e in read_jsonl(tmp_path / "events.jsonl")
              if e["customMetadata"].get("rule_id") == "camera-health"]
    states = [e["customMetadata"]["health_state"] for e in health]
    assert states == ["moved", "live"], health
    moved = health[0]["customMetadata"]
    assert float(moved["shift_px"]) == pytest.approx(76.8, rel=0.2), moved
    assert moved["previous_state"] == "live" and "moved" in moved["reason"], moved
    assert health[1]["customMetadata"]["previous_state"] == "moved"

    status = seen["status"]
    assert status["view"]["figures"]["shift_px"] == pytest.approx(76.8, rel=0.2), status
    assert status["view"]["reference"]["reason"] == "first run"
    assert 'streamer_source_state{state="moved",stream_id="dock-3"} 1.0' in seen["metrics"]
    assert "streamer_view_shift_pixels" in seen["metrics"]
    # The page's picture draws the lane where it now falls, in the alert colour; not before.
    assert (seen["picture"] == MOVED_RED).all(axis=2).sum() > 200
    assert (seen["before"] == MOVED_RED).all(axis=2).sum() == 0
    assert reference_path(tmp_path / "outbox.db", "dock-3").exists()


def test_the_default_is_on_for_cameras_and_off_for_files_read_frame_by_frame(tmp_path: Path) -> None:
    from streamer.pipeline.scene import tamper_enabled

    clip = tmp_path / "x.mp4"
    config = load_config(site(tmp_path, clip))
    off = config.model_copy(update={"camera": config.camera.model_copy(update={
        "tamper": config.camera.tamper.model_copy(update={"enabled": None})})})
    assert tamper_enabled(off) is False
    realtime = off.model_copy(update={"camera": off.camera.model_copy(update={"realtime": True})})
    rtsp = off.model_copy(update={"camera": off.camera.model_copy(update={"source": "rtsp://cam/stream"})})
    assert tamper_enabled(realtime) and tamper_enabled(rtsp)
