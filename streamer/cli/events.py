"""`streamer events ...`: look at and act on the outbox, also while the runtime runs.

The outbox is SQLite in WAL mode, so these commands read beside a running writer; the
few that write (retry, purge) take the same short ``BEGIN IMMEDIATE`` lock the runtime
uses. The outbox is found from a config (``--config FILE``: its ``outbox.path``) or
given directly (``--outbox PATH``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from streamer.errors import ConfigError, StreamerError
from streamer.events.feedback import VERDICTS, Feedback, ReviewError
from streamer.events.queries import Queries

if TYPE_CHECKING:
    from streamer.cli.flags import Commands

_STATES = ("pending", "delivered", "dead")


def add_events_commands(commands: Commands) -> None:
    """Register ``events`` and its subcommands on the CLI's subparsers object."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--config", type=Path, help="config whose outbox.path to use")
    where.add_argument("--outbox", type=Path, help="outbox file (default: data/outbox.db)")

    events = commands.add_parser(
        "events", parents=[_group_where()],
        help="list, inspect, retry, purge and export events in the outbox",
    )
    sub = events.add_subparsers(dest="events_command", required=True)

    ls = sub.add_parser("ls", parents=[where], help="list events, oldest first")
    ls.add_argument("--state", choices=_STATES, help="events with a delivery in this state")
    ls.add_argument("--sink", help="only deliveries to this sink")
    ls.add_argument("--rule", help="only events of this rule id")
    ls.add_argument("--since", help="ISO-8601 time or an age such as 30m, 2h, 1d")
    ls.add_argument("--until", help="ISO-8601 time or an age such as 30m, 2h, 1d")
    ls.add_argument("--limit", type=int, help="at most N events")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument("--unreviewed", action="store_true",
                    help="only rule events no operator has judged yet")
    ls.set_defaults(func=_cmd_ls)

    show = sub.add_parser("show", parents=[where], help="one event: payload and deliveries")
    show.add_argument("event_id", help="an eventId (a unique prefix is enough)")
    show.set_defaults(func=_cmd_show)

    retry = sub.add_parser("retry", parents=[where], help="put dead deliveries back to pending")
    retry.add_argument("event_ids", nargs="*", help="events whose dead deliveries to retry")
    retry.add_argument("--dead", action="store_true", help="every dead delivery")
    retry.add_argument("--sink", help="only deliveries to this sink")
    retry.set_defaults(func=_cmd_retry)

    purge = sub.add_parser("purge", parents=[where], help="delete events every sink has")
    purge.add_argument("--dead", action="store_true",
                       help="also events whose only undelivered deliveries are dead")
    purge.set_defaults(func=_cmd_purge)

    export = sub.add_parser("export", parents=[where],
                            help="write events as v1 bundles (air-gapped transfer), each "
                            "event's clip inside it and as an .mp4 beside it")
    export.add_argument("--bundle", type=Path, required=True, help="folder for the .tar.gz files")
    export.add_argument("--state", choices=(*_STATES, "all"), default="pending",
                        help="events with a delivery in this state (default pending)")
    export.add_argument("--sink", help="only deliveries to this sink")
    export.add_argument("--use-case", default=None,
                        help="useCaseId written into payloads; default none (the uploader "
                        "supplies it)")
    export.set_defaults(func=_cmd_export)

    stats = sub.add_parser("stats", parents=[where],
                           help="counters per sink and precision per rule, as JSON")
    stats.set_defaults(func=_cmd_stats)

    review = sub.add_parser(
        "review", parents=[where],
        help="judge an event (sent as operator_feedback; also while a run is live)",
    )
    review.add_argument("event_id", help="an eventId (a unique prefix is enough)")
    review.add_argument("verdict", choices=VERDICTS)
    review.add_argument("--by", help="your name, kept with the verdict")
    review.set_defaults(func=_cmd_review)


def _group_where() -> argparse.ArgumentParser:
    # The same two options before the subcommand (`streamer events --config F ls`).
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", dest="group_config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--outbox", dest="group_outbox", type=Path, help=argparse.SUPPRESS)
    return parser


# --- finding the outbox ---------------------------------------------------------------


# Where an outbox is looked for without --outbox or --config: the configs' usual path,
# then where `streamer demo` writes by default (its --out folder).
DEFAULT_OUTBOXES = (Path("data/outbox.db"), Path("streamer-demo/outbox.db"))


def outbox_path(args: argparse.Namespace) -> Path:
    """``--outbox``, else the config's ``outbox.path``, else the first of
    ``DEFAULT_OUTBOXES`` that exists (the first when none does)."""
    outbox = getattr(args, "outbox", None) or getattr(args, "group_outbox", None)
    if outbox:
        return Path(outbox)
    config = getattr(args, "config", None) or getattr(args, "group_config", None)
    if not config:
        return next((path for path in DEFAULT_OUTBOXES if path.is_file()), DEFAULT_OUTBOXES[0])
    from streamer.config import load_config

    try:
        return Path(load_config(config).outbox.path)
    except ConfigError as exc:
        # The outbox path rarely needs the secrets the rest of the file may want from
        # the environment: read just that key before giving up.
        import yaml

        from streamer.config.loader import BoundedLoader, read_config_text

        try:
            raw = yaml.load(read_config_text(Path(config)), Loader=BoundedLoader) or {}
            path = (raw.get("outbox") or {}).get("path", "data/outbox.db")
        except (ConfigError, yaml.YAMLError, AttributeError):
            raise exc from None
        if not isinstance(path, str) or "${" in path:
            raise exc from None
        return Path(path)


def _open(args: argparse.Namespace) -> Queries:
    path = outbox_path(args)
    if not path.is_file():
        given = getattr(args, "outbox", None) or getattr(args, "group_outbox", None)
        config = getattr(args, "config", None) or getattr(args, "group_config", None)
        if given or config:
            where = f"no outbox at {path.resolve()}" + (f" (outbox.path of {config})" if config and not given else "")
        else:
            looked = " or ".join(str(p.resolve()) for p in DEFAULT_OUTBOXES)
            where = f"no outbox found: looked for {looked}"
        raise StreamerError(f"{where}; give --outbox PATH or --config FILE")
    return Queries.open(path)


def parse_when(text: str, now: float | None = None) -> float:
    """Epoch seconds from ISO-8601 (UTC if no offset) or an age like ``90s``/``30m``/``2h``/``1d``."""
    now = time.time() if now is None else now
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if match:
        scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return now - float(match.group(1)) * scale
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StreamerError(
            f"time {text!r}: expected ISO-8601 (2025-05-01T12:00:00Z) or an age (30m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- commands -------------------------------------------------------------------------


def _cmd_ls(args: argparse.Namespace) -> int:
    outbox = _open(args)
    if args.unreviewed:
        return _print_unreviewed(outbox, args)
    rows = outbox.list_events(
        state=args.state,
        sink=args.sink,
        rule=args.rule,
        since_ts=parse_when(args.since) if args.since else None,
        until_ts=parse_when(args.until) if args.until else None,
        limit=args.limit,
    )
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    table = [("EVENT", "TIME (UTC)", "RULE", "TYPE", "VERDICT", "DELIVERY", "DESCRIPTION")]
    for row in rows:
        per_sink = cast("dict[str, dict[str, Any]]", row["deliveries"])
        deliveries = " ".join(
            f"{sink}={d['state']}" + (f"({d['attempts']})" if d["attempts"] else "")
            for sink, d in per_sink.items()
        )
        table.append((str(row["event_id"]), _iso(cast(float, row["created_ts"])), str(row["rule_id"]),
                      str(row["event_type"]), str(row["verdict"] or "-"), deliveries or "-",
                      " ".join(str(row["description"]).split())))
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]) - 1)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1])
    print(f"{len(rows)} event(s) in {outbox.path}", file=sys.stderr)
    return 0


def _resolve_id(outbox: Queries, prefix: str) -> str:
    matches = outbox.match_ids(prefix)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise StreamerError(f"no event {prefix!r} in {outbox.path}")
    raise StreamerError(f"{prefix!r} matches several events; give more of the eventId")


def _cmd_show(args: argparse.Namespace) -> int:
    outbox = _open(args)
    event_id = _resolve_id(outbox, args.event_id)
    record = outbox.get(event_id)
    if record is None:  # removed between the lookup and the read (quota, purge)
        raise StreamerError(f"no event {args.event_id!r} in {outbox.path}")
    print(json.dumps({
        "eventId": event_id,
        "created": _iso(record.created_ts),
        "rule_id": record.rule_id,
        "deliveries": outbox.deliveries(event_id),
        "images": [{"index": i, "bytes": len(jpeg)} for i, jpeg in enumerate(record.images)],
        "clip": _clip_summary(outbox, event_id),
        "payload": record.payload,
    }, indent=2, sort_keys=True))
    return 0


def _clip_summary(outbox: Queries, event_id: str) -> dict[str, Any] | None:
    clip = outbox.clip(event_id)
    if clip is None:
        return None
    return {"state": clip.state, "bytes": len(clip.mp4 or b""), "due": _iso(clip.due_ts), "meta": clip.meta}


def _cmd_retry(args: argparse.Namespace) -> int:
    if not args.event_ids and not args.dead:
        raise StreamerError("events retry: give event ids or --dead")
    outbox = _open(args)
    ids = [_resolve_id(outbox, prefix) for prefix in args.event_ids]
    changed = outbox.retry(ids, dead=args.dead, sink=args.sink)
    print(f"{changed} delivery(ies) back to pending; a running streamer picks them up "
          f"within seconds, else the next run sends them first")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    outbox = _open(args)
    removed = outbox.purge(dead=args.dead)
    print(f"{removed} event(s) removed from {outbox.path}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from streamer.sinks.base import write_atomic
    from streamer.sinks.bundle import write_bundle

    outbox = _open(args)
    try:
        args.bundle.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StreamerError(f"--bundle: cannot create {args.bundle}: {exc.strerror}") from None
    state = None if args.state == "all" else args.state
    written = failed = 0
    for row in outbox.list_events(state=state, sink=args.sink):
        record = outbox.get(str(row["event_id"]))
        if record is None:  # purged meanwhile by the runtime's quota
            continue
        # The clip goes inside the bundle (as the bundle sink writes it) and beside it as
        # an .mp4 a person can open without unpacking anything.
        record = replace(record, stored_clip=outbox.clip(record.event_id))
        try:
            path = write_bundle(args.bundle, record, args.use_case)
            clip = record.stored_clip
            if clip is not None and clip.missing() is None and clip.mp4:
                clip_file = path.with_name(path.name.removesuffix(".tar.gz") + ".mp4")
                write_atomic(clip_file, clip.mp4)
                print(clip_file)
        except ValueError as exc:
            failed += 1
            print(f"skipped {record.event_id}: {exc}", file=sys.stderr)
            continue
        except OSError as exc:
            raise StreamerError(f"--bundle: cannot write {args.bundle}: {exc.strerror}") from None
        written += 1
        print(path)
    print(f"{written} bundle(s) written to {args.bundle}" + (f", {failed} skipped" if failed else ""),
          file=sys.stderr)
    return 0 if not failed else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    outbox = _open(args)
    stats = outbox.stats()
    stats["rules"] = Feedback(outbox.store).precision()
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


def _print_unreviewed(outbox: Queries, args: argparse.Namespace) -> int:
    rows = Feedback(outbox.store).unreviewed(args.limit)
    for row in rows:
        if args.json:
            print(json.dumps(row, sort_keys=True))
        else:
            print(f"{row['event_id']}  {_iso(row['created_ts'])}  {row['rule_id']}  {row['event_type']}")
    if not args.json:
        print(f"{len(rows)} unreviewed event(s)", file=sys.stderr)
    return 0


def _cmd_review(args: argparse.Namespace) -> int:
    outbox = _open(args)
    event_id = _resolve_id(outbox, args.event_id)
    try:
        record = Feedback(outbox.store).review(event_id, args.verdict, args.by)
    except ReviewError as exc:
        raise StreamerError(str(exc)) from None
    print(f"{event_id}: {args.verdict}, sent as operator_feedback {record.event_id}; a running "
          f"streamer delivers it within seconds, else the next run")
    return 0
