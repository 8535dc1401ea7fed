"""What a run did: the closing summary and the progress line, formatted in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunSummary:
    """What a run did, for the closing lines and for tests.

    Filled in by the frame loop's thread (``frames``) and once at the end (the rest);
    monitor threads read only ``frames``, an int replaced whole.
    """

    frames: int = 0
    elapsed_s: float = 0.0
    ended_by: str = ""
    frames_dropped: int = 0
    events_accepted: int = 0
    events_by_rule: dict[str, int] = field(default_factory=dict)
    events_dropped: int = 0
    # Events that never reached the outbox, by reason (disk full, shutdown, ...).
    events_unstored: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    dead: int = 0
    # Per sink: the outbox's counters (Outbox.stats) plus the sender's status line.
    sinks: dict[str, dict[str, object]] = field(default_factory=dict)
    backlog_at_start: int = 0
    recent_events: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    clips: dict[str, object] = field(default_factory=dict)  # the recorder's counters, if on

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        return summary_lines(self)


def summary_lines(s: RunSummary) -> list[str]:
    """The closing lines ``streamer run`` prints."""
    by_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(s.events_by_rule.items()))
    delivered = ", ".join(f"{sink}: {n}" for sink, n in sorted(s.delivered.items()))
    out = [
        f"frames: {s.frames} in {s.elapsed_s:.1f} s ({s.fps:.1f} fps), "
        f"ended by {s.ended_by}; frames dropped: {s.frames_dropped}",
        f"events: {s.events_accepted} accepted"
        + (f" ({by_rule})" if by_rule else "")
        + f", {s.events_dropped} dropped"
        + (f", {sum(s.events_unstored.values())} not stored" if s.events_unstored else ""),
        f"delivered this run: {delivered or 'no sinks configured'}"
        + (f" (including {s.backlog_at_start} from an earlier run)" if s.backlog_at_start else ""),
    ]
    for reason, n in sorted(s.events_unstored.items()):
        out.append(f"{n} events could not be stored: {reason}")
    if s.clips:
        c = s.clips
        out.append(
            f"clips: {c.get('written_total', 0)} written ({c.get('copied_total', 0)} copied from "
            f"the camera's stream, {c.get('encoded_total', 0)} encoded), {c.get('short_total', 0)} "
            f"shorter than asked, {c.get('failed_total', 0)} failed"
            + (f": {c['last_error']}" if c.get("last_error") else "")
        )
    if s.pending:
        out.append(
            f"{s.pending} deliveries stay in the outbox; the next run with the same "
            f"outbox sends them first"
        )
    if s.dead:
        out.append(f"{s.dead} deliveries were refused for good (dead letters)")
    for name, c in sorted(s.sinks.items()):
        out.append(
            f"sink {name}: accepted {c.get('accepted', 0)}, delivered {c.get('delivered', 0)}, "
            f"retried {c.get('retried', 0)}, pending {c.get('pending', 0)}, "
            f"dead {c.get('dead', 0)}, evicted {c.get('evicted', 0)}, "
            f"dropped {c.get('dropped', 0)}"
            + (f", files evicted {c['files_evicted']}" if c.get("files_evicted") else "")
            + f" (outbox totals); {c.get('status', 'ok')}"
        )
    for name, path in s.outputs.items():
        out.append(f"{name}: {path}")
    return out


def progress_line(
    frames: int,
    frame_count: int | None,
    elapsed_s: float,
    events: dict[str, object],
    delivered: int,
    frames_dropped: int,
) -> str:
    """The line printed every ``--progress-s`` seconds; ``events`` is the events stage's status."""
    done = f"{frames}/{frame_count} ({100 * frames / frame_count:.0f}%)" if frame_count else f"{frames}"
    line = (
        f"frames {done} · {frames / max(elapsed_s, 1e-9):.1f} fps · "
        f"events {events.get('accepted_total', 0)} · delivered {delivered} · "
        f"dropped frames {frames_dropped}"
    )
    if events.get("unstored_total"):
        line += f" · not stored {events['unstored_total']}"
    if events.get("store_error"):
        line += f" · DEGRADED: {events['store_error']} ({events.get('waiting', 0)} events wait in memory)"
    return line
