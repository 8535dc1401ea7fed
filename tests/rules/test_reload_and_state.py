"""`streamer run` swaps rules on a config edit without reopening the stream; a bad edit
is refused with its message and the old rules keep running. The live state of every
rule is one JSON-friendly structure on the Runtime."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from support import make_video, wait_for, walker, write_config, write_replay

from streamer.config import load_config
from streamer.runtime import RunOptions, Runtime

pytestmark = pytest.mark.integration


def site(tmp_path: Path, rules: list[dict[str, Any]], zone_id: str = "lane") -> dict[str, Any]:
    return {
        "camera": {"id": "dock", "source": str(tmp_path / "clip.mp4"), "realtime": True},
        "models": [{"id": "m", "kind": "replay", "path": str(tmp_path / "dets.jsonl")}],
        "zones": [{"id": zone_id, "polygon": [[0, 0], [640, 0], [640, 360], [0, 360]]}],
        "rules": rules,
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    }


LOITER = {"id": "linger", "type": "loiter", "zone": "lane", "dwell_s": 0.3, "cooldown_s": 0}
CROWD = {"id": "crowd", "type": "count", "threshold": 1, "for_s": 0, "clear_s": 0, "cooldown_s": 0}



def test_edit_is_applied_live_and_a_bad_edit_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_video(tmp_path / "clip.mp4", frames=80, fps=10.0)  # 8 s played in real time
    write_replay(tmp_path / "dets.jsonl", walker(range(0, 80), x_start=100, x_step=2))
    path = write_config(tmp_path / "site.yaml", site(tmp_path, [LOITER]))
    runtime = Runtime(load_config(path), RunOptions(watch_config=path, drain_s=2), report=lambda _: None)
    thread = threading.Thread(target=runtime.run)
    thread.start()
    try:
        wait_for(lambda: runtime.summary.frames >= 5, 8, "5 frames")
        frames_before = runtime.summary.frames
        # A bad edit: the rule names a zone that does not exist.
        bad = site(tmp_path, [LOITER, {**CROWD, "zone": "nowhere"}])
        write_config(path, bad)
        with caplog.at_level(logging.ERROR, logger="streamer.config"):
            wait_for(lambda: "config change refused" in caplog.text, 8, "the refusal logged")
        assert "site.yaml" in caplog.text and "unknown zone 'nowhere'" in caplog.text
        assert set(runtime.rules_state["rules"]) == {"linger"}  # type: ignore[arg-type]
        # A good edit: a new rule joins; the unchanged one keeps its running timer.
        write_config(path, site(tmp_path, [LOITER, CROWD]))
        wait_for(lambda: "crowd" in runtime.rules_state.get("rules", {}), 8, "the new rule live")  # type: ignore[operator]
        state = runtime.rules_state
        json.dumps(state)  # JSON-friendly as promised to the monitor
        assert state["zones"]["frame"] == 1  # type: ignore[index]
        assert state["rules"]["linger"]["fired_total"] == 1  # type: ignore[index]
        assert runtime.summary.frames > frames_before
    finally:
        runtime.stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    # The loiter visit started before the edits fired once (its state survived), and
    # the new count rule fired after the swap (accepted into the outbox).
    accepted = runtime.summary.events_by_rule
    assert accepted.get("linger") == 1 and accepted.get("crowd", 0) >= 1
    assert runtime.summary.ended_by == "a stop request"
