"""The pipeline's pieces a reader meets first: the scene a reload swaps whole, the replay
source's fast clock, and /api/status assembled from the stages' sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import walker, write_replay

from streamer.config.models import Config
from streamer.monitor import assemble_status
from streamer.pipeline import build_scene, reload_scene
from streamer.replay import ReplaySource, run_replay


def site(**changes: Any) -> Config:
    data: dict[str, Any] = {
        "camera": {"id": "dock", "source": "clip.mp4"},
        "models": [{"id": "m", "kind": "replay", "path": "x.jsonl"}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
        "rules": [
            {"id": "enter", "type": "zone", "zone": "lane", "cooldown_s": 0},
            {"id": "crowd", "type": "count", "threshold": 3, "for_s": 0.5},
        ],
    }
    data.update(changes)
    return Config.model_validate(data)


def test_reload_builds_a_new_scene_and_leaves_the_old_one_whole() -> None:
    old = build_scene(site(), 640, 360)
    edited = site(
        camera={"id": "dock", "source": "other.mp4"},
        zones=[{"id": "lane", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
               {"id": "dock", "polygon": [[0, 0], [0.2, 0], [0.2, 1], [0, 1]]}],
        rules=[{"id": "enter", "type": "zone", "zone": "lane", "cooldown_s": 0},
               {"id": "parked", "type": "zone", "zone": "dock"}],
    )
    new, line = reload_scene(old, edited)
    assert line == "config reloaded: 2 rule(s), 1 kept their state; changes to camera need a restart"
    # The unchanged rule carries its state over (the same object); the old scene, which a
    # monitor thread may still be drawing, is untouched.
    assert new.rules[0] is old.rules[0]
    assert [r.rule_id for r in old.rules] == ["enter", "crowd"]
    assert [r.rule_id for r in new.rules] == ["enter", "parked"]
    assert new.overlay is not old.overlay and len(new.overlay.zones) == 2 and len(old.overlay.zones) == 1
    # Sections that need a restart stay as they were; the next reload compares against them.
    assert new.config.camera.source == "clip.mp4" and [z.id for z in new.config.zones] == ["lane", "dock"]


def test_replay_source_is_a_fast_clock() -> None:
    source = ReplaySource(2, 64, 32, 10.0, 1000.0)
    source.start()
    assert source.ready.is_set()
    frames = [source.read(), source.read(), source.read()]
    assert [(f.index, f.t_s, f.wall_ts) for f in frames if f is not None] == [
        (0, 0.0, 1000.0), (1, 0.1, 1000.1), (2, 0.2, 1000.2)]
    assert frames[0] is not None and frames[0].image.shape == (32, 64, 3)
    with pytest.raises(EOFError):
        source.read()
    assert source.health()["state"] == "ended"


def test_replay_without_send_opens_no_outbox(tmp_path: Path) -> None:
    """Tuning rules over a recording must not write into the run's outbox."""
    dets = write_replay(tmp_path / "dets.jsonl", walker(range(0, 20), x_start=100, x_step=25))
    config = site(
        models=[{"id": "m", "kind": "replay", "path": str(dets)}],
        rules=[{"id": "enter", "type": "zone", "zone": "lane", "cooldown_s": 0, "min_frames": 1}],
        outbox={"path": str(tmp_path / "outbox.db")},
    )
    result = run_replay(config, dets, 640, 360, 10.0, 0.0)
    assert [e.event.rule_id for e in result.events] == ["enter"]
    assert result.delivered == {}
    assert not (tmp_path / "outbox.db").exists()


class _Section:
    def __init__(self, section: dict[str, object]) -> None:
        self.section = section

    def status(self) -> dict[str, object]:
        return self.section


def test_status_keeps_every_key_while_stages_report_none_of_it() -> None:
    status = assemble_status([_Section({"camera": {"id": "dock"}}), _Section({"sinks": {"jsonl": {}}})])
    assert list(status) == ["camera", "models", "rules", "places", "events", "sinks"]
    assert status["camera"] == {"id": "dock"} and status["sinks"] == {"jsonl": {}}
    assert status["places"] == {"zones": None, "lines": None, "indeterminate_persons": None}
    # Each call builds a fresh structure: a caller changing one cannot change the next.
    status["events"]["x"] = 1  # type: ignore[index]
    assert assemble_status([])["events"] == {}
