"""Delivery: the outbox, the sinks and one sender per sink; the drain at the end of a run.

Owns the HTTP clients it opens for sinks and closes them after the senders stop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import httpx

from streamer.config.models import Config
from streamer.events.outbox import Outbox
from streamer.events.sender import Sender
from streamer.redact import redact
from streamer.sinks.base import Sink, SinkContext

log = logging.getLogger("streamer.pipeline")


def build_sinks(config: Config, clients: list[httpx.Client]) -> list[Sink]:
    """Each sink's config builds its own sink (``build``, from the plugin registry); HTTP
    clients opened for them are appended to ``clients``, which the run closes."""
    context = SinkContext(config.outbox, clients)
    return [sink_config.build(context) for sink_config in config.sinks]


class Delivery:
    """The outbox and its senders. Senders start before the camera, so a backlog from an
    earlier run drains even while the camera connects."""

    def __init__(self, outbox: Outbox, sinks: Sequence[Sink], clients: Sequence[httpx.Client],
                 secrets: Sequence[str]) -> None:
        self.outbox = outbox
        self.senders = [Sender(sink, outbox) for sink in sinks]
        self._clients = list(clients)
        self._secrets = secrets
        self._started = False

    @property
    def sink_names(self) -> list[str]:
        return [sender.sink.name for sender in self.senders]

    def backlog(self) -> int:
        """Deliveries an earlier run left pending, after the outbox's limits are applied."""
        self.outbox.enforce_limits()
        return self.outbox.pending_total(self.sink_names)

    def start(self) -> None:
        self._started = True
        for sender in self.senders:
            sender.start()

    def wake(self) -> None:
        for sender in self.senders:
            sender.wake()

    def delivered_total(self) -> int:
        return sum(sender.delivered_total for sender in self.senders)

    def drain(self, drain_s: float) -> None:
        """Give the senders up to ``drain_s`` to deliver what is pending."""
        deadline = time.monotonic() + drain_s
        self.wake()
        names = self.sink_names
        while time.monotonic() < deadline and self.outbox.pending_total(names) > 0:
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the senders, close their sinks, then the clients the sinks used."""
        for sender in self.senders:
            if self._started and not sender.stop(timeout=15.0):
                log.error("sender %s did not stop in time", sender.sink.name)
            sender.sink.close()
        for client in self._clients:
            client.close()

    def status(self) -> dict[str, object]:
        """``/api/status``'s ``sinks``: the outbox's counts plus each sender's state."""
        counts = self.outbox.counts()
        sinks: dict[str, dict[str, object]] = {}
        for sender in self.senders:
            entry: dict[str, object] = dict(counts.get(sender.sink.name, {}))
            # Masked here too: a sink's message may quote its URL (a webhook's path
            # is its token) or the camera's.
            entry["last_error"] = redact(sender.last_error, self._secrets)
            entry["files_evicted_total"] = sender.files_evicted_total
            entry["status"] = redact(sender.status, self._secrets)  # "ok", "retrying in ...", "paused: ..."
            entry.update(sender.backlog())  # size, age, drain estimate (issue 14)
            sinks[sender.sink.name] = entry
        return {"sinks": sinks}

    def totals(self) -> tuple[dict[str, int], int, int, dict[str, dict[str, object]]]:
        """At the end: (delivered per sink, pending, dead, per sink outbox totals and status)."""
        names = self.sink_names
        counts = self.outbox.counts()
        pending = sum(counts.get(name, {}).get("pending", 0) for name in names)
        dead = sum(counts.get(name, {}).get("dead", 0) for name in names)
        all_stats = self.outbox.stats()["sinks"]
        assert isinstance(all_stats, dict)
        per_sink: dict[str, dict[str, object]] = {}
        for sender in self.senders:
            entry = dict(all_stats.get(sender.sink.name, {}))
            entry["status"] = redact(sender.status, self._secrets)
            per_sink[sender.sink.name] = entry
        delivered = {sender.sink.name: sender.delivered_total for sender in self.senders}
        return delivered, pending, dead, per_sink
