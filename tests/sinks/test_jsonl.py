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

from streamer.config.models import JsonlSinkConfig
from streamer.sinks.jsonl import JsonlSink

pytestmark = pytest.mark.integration  # a child process with a file-size limit

TESTS = Path(__file__).resolve().parents[1]


def test_a_torn_line_left_at_the_end_is_cut_before_the_next_append(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=path))
    first = [make_record(), make_record()]
    assert all(outcome.ok for outcome in sink.send(first))
    whole = path.read_bytes()
    # What a crash or a full disk in the middle of an append leaves behind.
    fragment = b'{"eventId":"' + make_record().event_id.encode() + b'","eventTy'
    with open(path, "ab") as handle:
        handle.write(fragment)
    later = [make_record(), make_record()]
    assert all(outcome.ok for outcome in sink.send(later))
    assert path.read_bytes().startswith(whole)
    assert [line["eventId"] for line in read_jsonl(path)] == [r.event_id for r in first + later]
    assert f"cut {len(fragment)} bytes of a torn line" in caplog.text


def test_a_file_of_one_torn_line_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"eventId": "half')
    record = make_record()
    assert JsonlSink(JsonlSinkConfig(type="jsonl", path=path)).send([record])[0].ok
    assert [line["eventId"] for line in read_jsonl(path)] == [record.event_id]


CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path
    from streamer.config.models import JsonlSinkConfig
    from streamer.sinks.jsonl import JsonlSink
    from support import make_record

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    path = Path(sys.argv[1])
    sink = JsonlSink(JsonlSinkConfig(type="jsonl", path=path))
    assert all(o.ok for o in sink.send([make_record(), make_record()]))
    before = path.read_bytes()
    # The file may grow by 300 bytes: the next batch of three lines stops mid-line.
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 300, resource.RLIM_INFINITY))
    batch = [make_record() for _ in range(3)]
    failed = sink.send(batch)
    after_failure = path.read_bytes()
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    retried = sink.send(batch)
    print(json.dumps({
        "failed": [[o.ok, o.retry, o.reason] for o in failed],
        "retried": [o.ok for o in retried],
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
