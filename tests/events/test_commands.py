"""``streamer events`` as a pipeline's first stage (issue 28): a reader that closes the
pipe early (``| head``) ends the command quietly, as it ends any Unix tool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_record
from streamer.events.outbox import Outbox

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", [["ls"], ["ls", "--json"], ["stats"], ["show", "FIRST"]])
def test_a_closed_pipe_is_a_quiet_end(tmp_path: Path, command: list[str]) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    first = ""
    for _ in range(300):
        record = make_record()
        first = first or record.event_id
        outbox.add(record, ["jsonl"])
    outbox.close()
    command = [first if part == "FIRST" else part for part in command]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: `| head -0`
    try:
        done = subprocess.run(
            [sys.executable, "-m", "streamer", "events", *command, "--outbox", str(tmp_path / "outbox.db")],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode in (0, 141), done.stderr
    assert done.stderr == "", done.stderr
