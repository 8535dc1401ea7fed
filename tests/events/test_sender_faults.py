"""Delivery under faults: outbox -> Sender -> VisionEventsSink -> the local server.

Each case ends with the same check (issue 5, rule 2 of docs/architecture.md): every accepted event
is at the server exactly once by eventId, or in the dead table with the server's reason;
nothing else is at the server and nothing is still pending.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import API_KEY, USE_CASE, make_record, wait_for
from support.vision_events_server import Delay, Pass, Status, VisionEventsServer

from streamer.config.models import VisionEventsSinkConfig
from streamer.events.outbox import Outbox
from streamer.events.sender import Sender
from streamer.sinks.vision_events import VisionEventsSink

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[VisionEventsServer]:
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def sink_for(server: VisionEventsServer, client: httpx.Client, timeout_s: float = 2.0,
             api_key: str = API_KEY) -> VisionEventsSink:
    config = VisionEventsSinkConfig(type="vision_events", api_url=server.url, api_key=api_key,
                                    use_case=USE_CASE, timeout_s=timeout_s)
    return VisionEventsSink(config, client)


def fill(outbox: Outbox, n: int, bad: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """``n`` accepted events; those at index in ``bad`` break the API contract."""
    ids = []
    for i in range(n):
        extra = {"customMetadata": {"bad/key": 1}} if i in bad else {}
        record = make_record(**extra)
        outbox.add(record, ["vision_events"])
        ids.append(record.event_id)
    return ids


def deliver(outbox: Outbox, sink: VisionEventsSink, timeout_s: float = 20.0) -> Sender:
    """Run a real sender until nothing is pending (fast backoff: these are tests)."""
    sender = Sender(sink, outbox, backoff_start_s=0.05, backoff_max_s=0.4, idle_s=0.05)
    sender.start()
    try:
        wait_drained(outbox, timeout_s)
    finally:
        sender.stop()
    return sender


def wait_drained(outbox: Outbox, timeout_s: float) -> None:
    """Until nothing is pending; fails past ``timeout_s``."""
    wait_for(lambda: not outbox.pending_total(["vision_events"]), timeout_s, "outbox drained")


def assert_accounted(outbox: Outbox, server: VisionEventsServer, accepted: list[str],
                     once: bool = True) -> dict[str, str]:
    """Every accepted event at the server (once) or dead with a reason; nothing else."""
    dead = {event_id: reason for event_id, _, reason in outbox.dead()}
    assert outbox.pending_total() == 0
    assert all(dead.values()), dead
    assert set(server.events) | set(dead) == set(accepted)
    assert not set(server.events) & set(dead)
    if once:
        assert all(server.post_counts[event_id] == 1 for event_id in server.events)
    return dead


def test_batches_of_up_to_100_in_one_post_each(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 250)
    deliver(outbox, sink_for(server, client))
    assert_accounted(outbox, server, accepted)
    posts = [path for path in server.paths() if path != "/vision-events/upload"]
    assert posts == ["/vision-events/batch"] * 3
    stats = outbox.stats()["sinks"]["vision_events"]  # type: ignore[index]
    assert (stats["accepted"], stats["delivered"], stats["pending"], stats["dead"]) == (250, 250, 0, 0)


def test_a_share_of_500s_still_delivers_everything_once(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    rng = random.Random(5)
    # 35 % of all requests (uploads and posts) fail: a rate that never drains when the
    # backoff resets only after a whole round succeeds (docs/architecture.md, "Measured").
    server.script(*[Status(500) if rng.random() < 0.35 else Pass() for _ in range(600)])
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 120)
    sender = deliver(outbox, sink_for(server, client))
    assert_accounted(outbox, server, accepted)
    assert sender.retried_total > 0
    assert outbox.stats()["sinks"]["vision_events"]["retried"] == sender.retried_total  # type: ignore[index]


def test_429_retry_after_is_honoured(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 5)
    server.script(Status(429, retry_after=1))
    started = time.monotonic()
    deliver(outbox, sink_for(server, client))
    assert time.monotonic() - started >= 0.95  # not the 0.05 s backoff: the server's 1 s
    assert_accounted(outbox, server, accepted)
    # The 429 halted the batch: nothing else was tried while rate limited.
    assert server.requests[1][2] == 201


def test_answers_slower_than_the_timeout_overwrite_not_duplicate(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 3)
    # Uploads pass; the batch POST is stored by the server but answered after the timeout.
    server.script(Pass(), Pass(), Pass(), Delay(0.8))
    deliver(outbox, sink_for(server, client, timeout_s=0.4))
    # The slow first answer lands after the fast resend.
    wait_for(lambda: sum(server.post_counts.values()) >= 6, 3, "both posts of each event")
    assert_accounted(outbox, server, accepted, once=False)
    # The resend reused the device-made eventIds: each stored once, overwritten once.
    assert len(server.events) == 3
    assert all(server.post_counts[event_id] == 2 for event_id in accepted)
    assert server.paths().count("/vision-events/upload") == 3  # source ids were reused


def test_server_down_then_up_again(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 30)
    server.stop()
    sender = Sender(sink_for(server, client), outbox, backoff_start_s=0.05, backoff_max_s=0.2,
                    idle_s=0.05)
    sender.start()
    try:
        time.sleep(0.5)
        assert outbox.pending_total() == 30 and "refused" in sender.last_error
        server.start()
        wait_drained(outbox, 10)
    finally:
        sender.stop()
    assert_accounted(outbox, server, accepted)


def test_401_pauses_the_sink_and_keeps_every_event(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 10)
    server.script(*[Status(401)] * 3)
    sender = Sender(sink_for(server, client), outbox, backoff_start_s=0.1, backoff_max_s=0.2,
                    idle_s=0.05)
    sender.start()
    try:
        wait_for(lambda: sender.paused_reason, 5, "the sink paused")
        status = sender.status
        assert status.startswith("paused: ") and "HTTP 401" in status and "events kept" in status
        assert outbox.pending_total() == 10 and not outbox.dead()
        # The operator fixes the key (here: the server accepts again): everything goes out.
        wait_drained(outbox, 10)
    finally:
        sender.stop()
    assert_accounted(outbox, server, accepted)
    assert sender.status == "ok"


def test_one_bad_event_in_a_batch_is_the_only_dead_one(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 20, bad={7})
    deliver(outbox, sink_for(server, client))
    dead = assert_accounted(outbox, server, accepted)
    assert list(dead) == [accepted[7]]
    assert "HTTP 400" in dead[accepted[7]] and "bad/key" in dead[accepted[7]]
    assert len(server.events) == 19


def test_a_batch_refused_with_422_is_resent_one_at_a_time(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    accepted = fill(outbox, 4)
    server.script(*[Pass()] * 4, Status(422, body={"error": "events[2]: unprocessable"}),
                  Pass(), Pass(), Status(422, body={"error": "eventData: unprocessable"}))
    deliver(outbox, sink_for(server, client))
    dead = assert_accounted(outbox, server, accepted)
    assert list(dead) == [accepted[2]] and "HTTP 422: " in dead[accepted[2]]
    posts = [p for p in server.paths() if p != "/vision-events/upload"]
    assert posts == ["/vision-events/batch"] + ["/vision-events"] * 4


def test_a_redirect_pauses_the_sink_keeps_every_event_and_never_follows(
    tmp_path: Path, server: VisionEventsServer, client: httpx.Client
) -> None:
    with VisionEventsServer(api_key=API_KEY, use_cases=(USE_CASE,)) as elsewhere:
        outbox = Outbox(tmp_path / "outbox.db")
        accepted = fill(outbox, 10)
        target = f"{elsewhere.url}/vision-events/upload"
        server.script(*[Status(302, location=target)] * 3)
        sender = Sender(sink_for(server, client), outbox, backoff_start_s=0.1,
                        backoff_max_s=0.2, idle_s=0.05)
        sender.start()
        try:
            deadline = time.monotonic() + 5
            while not sender.paused_reason and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sender.status == (
                f"paused: api_url redirects to {elsewhere.url}; fix api_url (events kept)")
            assert outbox.pending_total() == 10 and not outbox.dead()
            # The operator fixes api_url (here: the server stops redirecting).
            wait_drained(outbox, 10)
        finally:
            sender.stop()
        assert elsewhere.requests == []  # nothing, so no key, ever reached the new place
    assert_accounted(outbox, server, accepted)
    assert sender.status == "ok" and sender.dead_total == 0
