"""The outbox's store: ``close()`` closes the connection of every thread that used it."""

from __future__ import annotations

import threading
from pathlib import Path

from support import make_record

from streamer.events.outbox import Outbox


def test_close_closes_every_threads_connection_and_the_wal_is_folded_in(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    record = make_record()
    hold = threading.Event()
    done = threading.Event()

    def sender() -> None:  # a long-lived thread, as a sink's sender is
        outbox.add(record, ["a"])
        hold.set()
        done.wait(10)
        # Used again after close(): the thread opens a fresh connection, nothing fails.
        outbox.mark_delivered("a", [record.event_id])

    thread = threading.Thread(target=sender)
    thread.start()
    assert hold.wait(10)
    assert outbox.pending_total() == 1  # the main thread's connection, too
    assert Path(f"{path}-wal").exists()
    outbox.close()
    # SQLite folds the WAL into the file and deletes it when its last connection closes:
    # with a connection left open in the sender thread the file would stay.
    assert not Path(f"{path}-wal").exists()
    done.set()
    thread.join(10)
    assert outbox.counts() == {"a": {"pending": 0, "delivered": 1, "dead": 0}}
    outbox.close()
    assert not Path(f"{path}-wal").exists()

