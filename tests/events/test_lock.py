"""One outbox, one owner (issue 28): a second ``streamer run`` on an outbox in use is
refused with one line and exit 2; a killed owner's lock is taken over at once; within one
process a second owner of the same file (two cameras given one path) is refused too."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from support import make_video, read_jsonl, run_cli, wait_for, write_config, write_replay
from support.processes import streamer_run, visits

from streamer.errors import ConfigError
from streamer.events.lock import OutboxInUse, OwnerLock
from streamer.events.outbox import Outbox

pytestmark = pytest.mark.integration


def site(tmp_path: Path, outbox: Path, loop: bool = True) -> Path:
    video = make_video(tmp_path / "clip.mp4", frames=40, size=(320, 180))
    replay = write_replay(tmp_path / "dets.jsonl", visits(4000))
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(video), "realtime": True, "loop": loop},
        "models": [{"id": "people", "kind": "replay", "path": str(replay)}],
        "rules": [{"id": "someone", "type": "count", "threshold": 1, "clear_s": 1, "cooldown_s": 0}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(outbox)},
        "monitor": {"enabled": False},
    })


def test_a_second_run_on_an_outbox_in_use_is_refused_and_a_dead_owner_is_taken_over(tmp_path: Path) -> None:
    outbox = tmp_path / "data" / "outbox.db"
    config = site(tmp_path, outbox)
    with streamer_run(config, want_monitor=False) as first:
        wait_for(lambda: len(read_jsonl(tmp_path / "events.jsonl")) >= 1, 30, "the first run's first event")
        second = run_cli("run", str(config), "--max-frames", "20", timeout=60)
        assert second.returncode == 2, second.stderr
        [line] = second.stderr.strip().splitlines()
        assert line.startswith("error: outbox.path: ") and "in use by another streamer process" in line
        assert f"pid {first.process.pid}, camera dock-3" in line
        # The same file under another spelling is the same outbox.
        os.symlink(tmp_path / "data", tmp_path / "alias")
        aliased = tmp_path / "alias.yaml"
        aliased.write_text(config.read_text().replace(str(outbox), str(tmp_path / "alias" / "outbox.db")))
        assert run_cli("run", str(aliased), "--max-frames", "20", timeout=60).returncode == 2
        # kill -9: no clean-up ran, the lock file is still there, its holder is gone.
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    assert OwnerLock.lock_path_of(outbox).exists()
    before = len(read_jsonl(tmp_path / "events.jsonl"))
    third = run_cli("run", str(config), "--max-frames", "60", timeout=120)
    assert third.returncode == 0, third.stderr[-2000:]
    assert len(read_jsonl(tmp_path / "events.jsonl")) > before


def test_two_owners_in_one_process_are_refused_and_a_closed_one_lets_the_next_in(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "outbox.db"
    first = Outbox(path, owner="camera dock-3")
    try:
        with pytest.raises(OutboxInUse, match=r"already the outbox of camera dock-3 in this process.*"
                                              r"give camera dock-4 its own outbox.path"):
            Outbox(tmp_path / "shared" / ".." / "shared" / "outbox.db", owner="camera dock-4")
        assert isinstance(OutboxInUse("x"), ConfigError)  # exit 2 at the CLI
        reader = Outbox(path)  # readers (the CLI, the page) need no ownership
        reader.close()
    finally:
        first.close()
    second = Outbox(path, owner="camera dock-4")
    second.close()
    with OwnerLock.acquire(path, owner="camera dock-5") as lock:
        assert lock.held and (tmp_path / "shared" / "outbox.db.lock").read_text().startswith(f"pid {os.getpid()}")
    assert not lock.held
