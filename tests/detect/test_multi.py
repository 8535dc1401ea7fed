"""Several models on one camera: merged with their ids, `every_n_frames`, `when`.

Real replay detectors (recorded detections) drive the model set, and one end-to-end CLI
run shows a held PPE result keeping a helmeted worker quiet while a bare-headed one
raises the missing-PPE event.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import box, make_video, read_jsonl, run_cli, write_config, write_replay

from streamer.config.models import ReplayModelConfig
from streamer.detect import DetectorSet, build_detector
from streamer.source.frame import Frame

pytestmark = pytest.mark.integration

IMAGE = np.zeros((360, 640, 3), dtype=np.uint8)


def _set(tmp_path: Path, models: list[tuple[dict, dict[int, list[dict]]]]) -> DetectorSet:
    configs = []
    for spec, rows in models:
        path = write_replay(tmp_path / f"{spec['id']}.jsonl", rows)
        configs.append(ReplayModelConfig(kind="replay", path=path, **spec))
    return DetectorSet.of([build_detector(config) for config in configs], configs)


def _run(models: DetectorSet, frames: int) -> list[list[tuple[str, str, float]]]:
    """Per frame: (model id, class, x1) of each merged detection."""
    out = []
    for index in range(frames):
        dets = models.detect(Frame(IMAGE, index, index / 10, 0.0))
        out.append(sorted(zip(dets.data["model_id"], dets.data["class_name"],
                              dets.xyxy[:, 0].tolist())))
    return out


def test_results_are_merged_and_keep_their_model_id(tmp_path: Path) -> None:
    models = _set(tmp_path, [
        ({"id": "people"}, {0: [box("person", 10, 10, 50, 150)]}),
        ({"id": "ppe"}, {0: [box("helmet", 20, 10, 40, 30), box("vest", 15, 50, 45, 90)]}),
    ])
    assert _run(models, 1) == [[("people", "person", 10.0), ("ppe", "helmet", 20.0),
                                ("ppe", "vest", 15.0)]]


def test_every_n_frames_repeats_the_latest_result_between_runs(tmp_path: Path) -> None:
    # A different box on every frame: which one comes out shows which frame ran.
    rows = {index: [box("helmet", index, 0, index + 10, 10)] for index in range(7)}
    models = _set(tmp_path, [({"id": "ppe", "every_n_frames": 3}, rows)])
    xs = [frame[0][2] for frame in _run(models, 7)]
    assert xs == [0, 0, 0, 3, 3, 3, 6]
    assert models.stats()[0]["runs_total"] == 3


def test_when_runs_a_model_only_on_frames_where_the_other_found_something(
    tmp_path: Path,
) -> None:
    people = {0: [box("person", 0, 0, 50, 150)], 1: [box("person", 0, 0, 50, 150)],
              3: [box("person", 0, 0, 50, 150)]}
    helmets = {index: [box("helmet", index, 0, index + 10, 10)] for index in range(5)}
    models = _set(tmp_path, [
        ({"id": "people"}, people),
        ({"id": "ppe", "when": "people", "every_n_frames": 2}, helmets),
    ])
    frames = _run(models, 5)
    ppe = [[x for model, _, x in frame if model == "ppe"] for frame in frames]
    # 0: runs; 1: held (every 2nd); 2: nobody, nothing; 3: runs again at once (nothing
    # held: a stale box must not come back with the next person); 4: nobody.
    assert ppe == [[0.0], [0.0], [], [3.0], []]


def test_when_must_name_an_earlier_model(tmp_path: Path) -> None:
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"source": "clip.mp4"},
        "models": [
            {"id": "ppe", "kind": "replay", "path": "ppe.jsonl", "when": "people"},
            {"id": "people", "kind": "replay", "path": "people.jsonl"},
        ],
    })
    result = run_cli("validate", str(config))
    assert result.returncode == 2
    assert "site.yaml:" in result.stderr and "models[0].when" in result.stderr
    assert "must name an earlier model" in result.stderr


def test_held_ppe_result_keeps_a_helmeted_worker_quiet_end_to_end(tmp_path: Path) -> None:
    """Worker A wears a helmet, worker B does not. The PPE model runs every 3rd frame;
    the held helmet covers A on the frames between, so only B is reported."""
    video = make_video(tmp_path / "site.mp4", frames=50, fps=10)
    people = {index: [box("person", 100, 60, 180, 340), box("person", 400, 60, 480, 340)]
              for index in range(50)}
    helmets = {index: [box("helmet", 120, 62, 160, 95)] for index in range(0, 50, 3)}
    events = tmp_path / "events.jsonl"
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "site", "source": str(video)},
        "models": [
            {"id": "people", "kind": "replay", "path": str(write_replay(
                tmp_path / "people.jsonl", people))},
            {"id": "ppe", "kind": "replay", "when": "people", "every_n_frames": 3,
             "path": str(write_replay(tmp_path / "ppe.jsonl", helmets))},
        ],
        "rules": [{"id": "no-helmet", "type": "missing_ppe", "person_class": "person",
                   "required": ["helmet"], "for_s": 1, "cooldown_s": 600}],
        "sinks": [{"type": "jsonl", "path": str(events)}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    })
    result = run_cli("run", str(config))
    assert result.returncode == 0, result.stderr
    fired = [event for event in read_jsonl(events)
             if event.get("customMetadata", {}).get("rule_id") == "no-helmet"]
    assert len(fired) == 1, fired
    centres = [det["x"] for image in fired[0]["images"]
               for det in image.get("objectDetections", [])]
    assert centres and all(350 < x < 530 for x in centres), centres
