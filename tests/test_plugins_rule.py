"""A rule type from one file, added through the registry, runs end to end.

The throwaway rule lives in a file written to tmp_path, outside the package: its config
model (with its `type:` discriminator) and its rule class side by side, registered with one
call; then a real run of a small video with a replay detector delivers its events.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import edit_config, read_jsonl, run_in_process, scene, walker, write_module

from streamer.config import load_config
from streamer.errors import ConfigError
from streamer.plugins import PLUGINS

FIRST_SEEN_RULE = '''
from __future__ import annotations

from typing import Literal

import supervision as sv
from pydantic import Field

from streamer.rules.base import Rule, RuleContext, RuleEvent
from streamer.schema.bases import RuleBase


class FirstSeenRuleConfig(RuleBase):
    """Fires once for each new track of the rule's classes, after min_seen_s of frame time."""

    type: Literal["first_seen"]
    min_seen_s: float = Field(0.0, ge=0, description="Seconds a track is seen before it counts.")

    def build(self, context: RuleContext) -> "FirstSeenRule":
        return FirstSeenRule(self)


class FirstSeenRule(Rule):
    def __init__(self, config: FirstSeenRuleConfig) -> None:
        self.rule_id = config.id
        self.config = config
        self._first: dict[int, float] = {}
        self._fired: set[int] = set()

    def update(self, t_s: float, dets: sv.Detections, wall_ts: float | None = None) -> list[RuleEvent]:
        events = []
        ids = [] if dets.tracker_id is None else list(dets.tracker_id)
        names = dets.data.get("class_name", [""] * len(dets))
        for index, (track_id, name) in enumerate(zip(ids, names)):
            if track_id < 0 or (self.config.classes and name not in self.config.classes):
                continue
            first = self._first.setdefault(int(track_id), t_s)
            if int(track_id) not in self._fired and t_s - first >= self.config.min_seen_s:
                self._fired.add(int(track_id))
                events.append(RuleEvent(
                    rule_id=self.rule_id, t_s=t_s, spec=self.config.event,
                    detections=dets[index:index + 1], reason=f"{name} #{track_id} first seen",
                    track_id=int(track_id), class_name=str(name),
                ))
        return events

    def state(self) -> dict[str, object]:
        return {"type": "first_seen", "seen": len(self._first)}
'''


@pytest.fixture
def first_seen_config(tmp_path: Path, video: Path) -> Path:
    rows = walker(range(0, 40), x_start=20, x_step=5, y1=100)
    sink = {"type": "jsonl", "path": str(tmp_path / "events.jsonl")}
    rule = {
        "id": "new-person", "type": "first_seen", "classes": ["person"], "min_seen_s": 0.5,
        "event": {"type": "custom", "value": "first sighting", "description": "{class} arrived"},
    }
    return edit_config(scene(tmp_path, video, rows, [sink]), rules=[rule], monitor={"enabled": False})


def test_a_rule_type_from_one_file_runs_end_to_end(tmp_path: Path, first_seen_config: Path) -> None:
    module = write_module(tmp_path / "first_seen_rule.py", FIRST_SEEN_RULE)
    plugins = PLUGINS.adding(rules=(module.FirstSeenRuleConfig,))

    summary = run_in_process(first_seen_config, plugins=plugins)

    assert summary.delivered == {"jsonl": 1}
    (event,) = read_jsonl(tmp_path / "events.jsonl")
    assert event["eventType"] == "custom"
    assert event["eventData"]["value"] == "first sighting"
    assert event["customMetadata"]["rule_id"] == "new-person"
    # Its own key is validated like any built-in one.
    config = load_config(first_seen_config, plugins=plugins)
    assert config.rules[0].min_seen_s == 0.5


def test_without_its_registration_the_rule_type_is_a_config_error(first_seen_config: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(first_seen_config)
    message = str(caught.value)
    assert "rules[0]" in message and "'first_seen'" in message
