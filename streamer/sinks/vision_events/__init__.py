"""Deliver events to Roboflow Vision Events: upload the JPEGs, then POST events in batches.

The sink runs on its sender thread and never raises for a failed delivery: every event
gets an ``Outcome`` saying whether the outbox should keep it for a retry or
dead-letter it with the server's reason (docs/architecture.md, "Vision Events" and rule 2).
Split by job:

- ``sink``: the config (YAML keys) and the sink: which events go, how many at once, how a
  refused batch is split, what each event's outcome is;
- ``uploads``: each event's JPEGs uploaded once, source ids kept until the event is final;
- ``api``: the HTTP conversation (key, no redirects) and what counts as a receipt.
"""

from __future__ import annotations

from streamer.sinks.vision_events.sink import VisionEventsSink, VisionEventsSinkConfig

__all__ = ["VisionEventsSink", "VisionEventsSinkConfig"]
