"""Rules: pure functions of frame time and detections, one state object per rule."""

from __future__ import annotations

from streamer.config.models import Config, ZoneRuleConfig
from streamer.rules.base import Rule, RuleEvent
from streamer.rules.geometry import to_pixels
from streamer.rules.zone import ZoneRule

__all__ = ["Rule", "RuleEvent", "build_rules"]


def build_rules(config: Config, width: int, height: int) -> list[Rule]:
    """Instantiate every configured rule for a frame of ``width`` x ``height`` pixels."""
    zones = {zone.id: to_pixels(zone.polygon, width, height) for zone in config.zones}
    # A track absent for less than the tracker's buffer may come back with its id.
    forget_after_s = config.tracker.lost_buffer_s + 1.0
    rules: list[Rule] = []
    for rule in config.rules:
        if isinstance(rule, ZoneRuleConfig):
            rules.append(ZoneRule(rule, zones[rule.zone], forget_after_s))
    return rules
