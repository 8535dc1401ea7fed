"""The JSONL sink's appends on a real disk: no torn line survives a failed append, whether a
crash left it at the end or a full disk cut the append itself."""


from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import (
    make_record,
    read_jsonl,
)
from support.outcomes import send_in_order

from streamer.config.models import JsonlSinkConfig
from streamer.events.sink_contract import Delivered
from streamer.sinks.jsonl import JsonlSink

pytestmark = pytest.mark.integration  # a child process with a file-size limit

TESTS = Path(__file__).resolve().parents[1]


def test_a_torn_line_left_at_the_end_is_cut_before_the_next_append(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=path))
    first = [make_record(), make_record()]
    assert all(isinstance(outcome, Delivered) for outcome in send_in_order(sink, first))
    whole = path.read_bytes()
    # What a crash or a full disk in the middle of an append leaves behind.
    fragment = b'{"eventId":"' + make_record().event_id.encode() + b'","eventTy'
    with open(path, "ab") as handle:
        handle.write(fragment)
    later = [make_record(), make_record()]
    assert all(isinstance(outcome, Delivered) for outcome in send_in_order(sink, later))
    assert path.read_bytes().startswith(whole)
    assert [line["eventId"] for line in read_jsonl(path)] == [r.event_id for r in first + later]
    assert f"cut {len(fragment)} bytes of a torn line" in caplog.text


def test_a_file_of_one_torn_line_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"eventId": "half')
    record = make_record()
    assert isinstance(send_in_order(JsonlSink(JsonlSinkConfig(type="jsonl", path=path)), [record])[0], Delivered)
    assert [line["eventId"] for line in read_jsonl(path)] == [record.event_id]


CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path
    from streamer.config.models import JsonlSinkConfig
    from streamer.events.sink_contract import Delivered, Paused, Retry
    from streamer.sinks.jsonl import JsonlSink
    from support import make_record
    from support.outcomes import send_in_order

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    path = Path(sys.argv[1])
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=path))
    assert all(isinstance(o, Delivered) for o in send_in_order(sink, [make_record(), make_record()]))
    before = path.read_bytes()
    # The file may grow by 300 bytes: the next batch of three lines stops mid-line.
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 300, resource.RLIM_INFINITY))
    batch = [make_record() for _ in range(3)]
    failed = send_in_order(sink, batch)
    after_failure = path.read_bytes()
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    retried = send_in_order(sink, batch)
    print(json.dumps({
        "failed": [[isinstance(o, Delivered), isinstance(o, (Retry, Paused)), o.reason] for o in failed],
        "retried": [isinstance(o, Delivered) for o in retried],
        "kept_whole": after_failure == before,
        "batch": [r.event_id for r in batch],
    }))
""")


def test_an_append_cut_by_a_full_disk_leaves_no_fragment_for_the_retry(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert all(not ok and retry and "File too large" in reason for ok, retry, reason in report["failed"])
    assert report["kept_whole"] and report["retried"] == [True] * 3
    lines = read_jsonl(path)  # every line parses
    assert len(lines) == 5 and [line["eventId"] for line in lines[2:]] == report["batch"]
