"""``streamer events``: ``ls`` reads like a table and says where it looked for the outbox
(issue 26); as a pipeline's first stage (issue 28), a reader that closes the pipe early
(``| head``) ends the command quietly, as it ends any Unix tool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import make_record, run_cli

from streamer.events.feedback import Feedback
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


def test_ls_has_a_header_the_description_and_the_verdict(tmp_path: Path) -> None:
    """Run where `streamer demo` left its outbox (./streamer-demo/outbox.db), with no
    option: it is found there."""
    db = tmp_path / "streamer-demo" / "outbox.db"
    db.parent.mkdir()
    outbox = Outbox(db)
    records = [make_record(), make_record()]
    for record in records:
        outbox.add(record, ["jsonl"])
    Feedback(outbox.store).review(records[0].event_id, "correct")
    outbox.close()
    result = run_cli("events", "ls", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, first, second, feedback = result.stdout.splitlines()
    assert header.split() == ["EVENT", "TIME", "(UTC)", "RULE", "TYPE", "VERDICT", "DELIVERY",
                              "DESCRIPTION"]
    assert first.startswith(records[0].event_id) and " correct " in first
    assert first.endswith("Person in forklift lane") and "jsonl=pending" in first
    assert second.split()[4] == "-"  # not reviewed yet
    # The verdict travels as an operator_feedback event of its own, delivered like the rest.
    assert feedback.endswith(f"operator: correct (about {records[0].event_id})")
    assert f"3 event(s) in {Path('streamer-demo/outbox.db')}" in result.stderr


def test_no_outbox_says_where_it_looked(tmp_path: Path) -> None:
    result = run_cli("events", "ls", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: no outbox found: looked for {tmp_path / 'data' / 'outbox.db'} or "
        f"{tmp_path / 'streamer-demo' / 'outbox.db'}; give --outbox PATH or --config FILE")
