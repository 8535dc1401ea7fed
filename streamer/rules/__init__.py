"""Rules: pure functions of frame time and detections, one state object per rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.rules.base import PlaceTally, Rule, RuleContext, RuleEvent
from streamer.rules.expect import ExpectWithin
from streamer.rules.geometry import to_pixels
from streamer.schema.bases import ConfigBase

__all__ = ["Rule", "RuleEvent", "WatchedPlaces", "build_rules", "rules_state", "watched_places"]


@dataclass(frozen=True)
class WatchedPlaces:
    """Where the enabled rules look, in pixels of the frame: zone polygons (N, 2) and
    line segments (2, 2). Motion elsewhere cannot change what a rule decides."""

    zones: tuple[np.ndarray, ...]
    lines: tuple[np.ndarray, ...]


def watched_places(config: ConfigBase, width: int, height: int) -> WatchedPlaces | None:
    """The places the enabled rules name (each rule says which: ``watched_places``);
    None when a rule watches the whole frame, or when there are no rules (the live view
    then shows every box)."""
    rules = [rule for rule in config.rules if rule.enabled]
    if not rules:
        return None
    zones = {zone.id: zone.polygon for zone in config.zones}
    lines = {line.id: [line.start, line.end] for line in config.lines}
    wanted: dict[tuple[str, str], np.ndarray] = {}
    for rule in rules:
        places = rule.watched_places()
        if places is None:
            return None
        for kind, place_id in places:
            points = (zones if kind == "zone" else lines)[place_id]
            wanted[(kind, place_id)] = to_pixels(points, width, height)
    return WatchedPlaces(
        tuple(p for (kind, _), p in wanted.items() if kind == "zone"),
        tuple(p for (kind, _), p in wanted.items() if kind == "line"),
    )


def build_rules(config: ConfigBase, width: int, height: int) -> list[Rule]:
    """Instantiate every configured rule for a frame of ``width`` x ``height`` pixels.

    Each rule's config builds its own rule (``build``): a new rule type is a new module
    registered in :mod:`streamer.plugins`, not a branch here.
    """
    context = RuleContext(
        zones={zone.id: to_pixels(zone.polygon, width, height) for zone in config.zones},
        lines={
            line.id: to_pixels([line.start, line.end], width, height) for line in config.lines
        },
        size=(width, height),
        # A track absent for less than the tracker's buffer may come back with its id.
        forget_after_s=config.tracker.lost_buffer_s + 1.0,
    )
    rules: list[Rule] = []
    for rule_config in config.rules:
        rule = rule_config.build(context)
        if rule_config.expect_within_h is not None:
            rule = ExpectWithin(rule, rule_config, context)
        rules.append(rule)
    return rules


def rules_state(rules: list[Rule], t_s: float) -> dict[str, object]:
    """The live state of every rule as one JSON-friendly dict (for the monitor).

    ``zones``/``lines`` gather counts by place (each rule adds its own: ``Rule.tally``);
    ``rules`` holds each rule's own state (timers running, cooldowns left, indeterminate
    people) and its ``headline``, the words the page shows about it.
    """
    places = PlaceTally()
    for rule in rules:
        rule.tally(places)
    return {
        "t_s": round(t_s, 3),
        "zones": places.zones,
        "lines": places.lines,
        "indeterminate_persons": places.indeterminate,
        "rules": {rule.rule_id: {**rule.state(), "headline": rule.headline()} for rule in rules},
    }


def carry_state(old: list[Rule], new: list[Rule]) -> tuple[list[Rule], int]:
    """On a config reload, keep the running state of every rule whose settings and
    geometry did not change (a loiter timer survives an edit to another rule).

    Returns the rules to run and how many kept their state.
    """
    previous = {rule.rule_id: rule for rule in old}
    out: list[Rule] = []
    kept = 0
    for rule in new:
        prev = previous.get(rule.rule_id)
        same = prev is not None and prev.config == rule.config and prev.geometry() == rule.geometry()
        out.append(prev if same and prev is not None else rule)
        kept += int(same)
    return out, kept
