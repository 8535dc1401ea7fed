"""`streamer events ls` reads like a table and says where it looked for the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_record, run_cli
from streamer.events.feedback import Feedback
from streamer.events.outbox import Outbox

pytestmark = pytest.mark.integration


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
