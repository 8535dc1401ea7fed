"""Event age that a wrong wall clock cannot fake (issue 28): events stored while the clock
was 8 days behind are not evicted as "older than 7 days" once it is right; they wait for
their sink like any other."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from support import free_port, make_record, make_video, run_cli, write_config

from streamer.events.outbox import Outbox

pytestmark = pytest.mark.integration

DAY_S = 86400.0


def test_a_clock_that_was_behind_does_not_evict_pending_events(tmp_path: Path) -> None:
    outbox_path = tmp_path / "outbox.db"
    # What a run stored while its wall clock said 8 days ago: the events' created_ts.
    behind = Outbox(outbox_path, ttl_days=7, owner="camera dock-3")
    stored = [replace(make_record(), created_ts=time.time() - 8 * DAY_S) for _ in range(8)]
    for record in stored:
        behind.add(record, ["hook"])
    behind.close()
    video = make_video(tmp_path / "clip.mp4", frames=20, size=(160, 120))
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(video)},
        "models": [{"id": "people", "kind": "replay", "path": str(tmp_path / "none.jsonl")}],
        # Nobody listens there: every event stays pending while the clock is right again.
        "sinks": [{"type": "webhook", "id": "hook", "url": f"http://127.0.0.1:{free_port()}/hook",
                   "timeout_s": 1}],
        "outbox": {"path": str(outbox_path), "ttl_days": 7},
        "monitor": {"enabled": False},
    })
    (tmp_path / "none.jsonl").write_text("")
    done = run_cli("run", str(config), "--drain-s", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "evicted" not in done.stderr, done.stderr[-2000:]
    stats = json.loads(run_cli("events", "stats", "--outbox", str(outbox_path)).stdout)
    hook = stats["sinks"]["hook"]
    assert (hook["pending"], hook["evicted"]) == (8, 0), hook
