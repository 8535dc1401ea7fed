"""A sink's answer in batch order, for tests that read one record's outcome by position."""

from __future__ import annotations

from streamer.events.record import EventRecord
from streamer.events.sink_contract import Outcome, Sink


def send_in_order(sink: Sink, batch: list[EventRecord]) -> list[Outcome]:
    """``sink.send(batch)``, each record's outcome in the batch's order (a record the sink
    gave no outcome for fails the test with a KeyError naming it)."""
    answer = sink.send(batch)
    return [answer[record.event_id] for record in batch]
