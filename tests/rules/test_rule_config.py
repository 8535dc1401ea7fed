"""Bad rules are refused at `validate` with file, line and key; good ones load."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_cli

from streamer.config import load_config
from streamer.errors import ConfigError

pytestmark = pytest.mark.integration

HEAD = """\
camera: {id: cam, source: clip.mp4}
models:
  - id: ppe
    kind: onnx
    path: ppe.onnx
    names: [person, helmet, vest, no_helmet]
zones:
  - id: dock
    polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
lines:
  - id: gate
    start: [0.5, 0.0]
    end: [0.5, 1.0]
rules:
"""

ALL_TYPES = """\
  - id: lane
    type: zone
    zone: dock
    anchor: center
    cooldown_scope: zone
    schedule: {weekdays: [mon, tue], hours: ["06:00-14:00", "22:00-06:00"], timezone: Europe/Berlin}
  - id: crowd
    type: count
    zone: dock
    op: ">"
    threshold: 4
    for_s: 2
  - id: gate-count
    type: line
    line: gate
    direction: left_to_right
  - id: linger
    type: loiter
    zone: dock
    dwell_s: 30
  - id: no-helmet
    type: missing_ppe
    required: [helmet, vest]
    violation_classes: [no_helmet]
    regions: {vest: torso}
    for_s: 2
    event: {description: "{class} #{track_id} without {missing}"}
"""


def write(tmp_path: Path, rules: str, head: str = HEAD) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(head + rules, encoding="utf-8")
    return path


def refusal(tmp_path: Path, rules: str, head: str = HEAD) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, rules, head))
    return str(caught.value)


def test_every_rule_type_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ALL_TYPES))
    assert [r.type for r in config.rules] == ["zone", "count", "line", "loiter", "missing_ppe"]
    assert [r.cooldown_scope for r in config.rules] == ["zone", "rule", "track", "track", "track"]
    assert config.rules[1].event.type == "inventory_count"
    # The measured defaults (docs/rules.md, "Band and travel").
    lane, gate = config.rules[0], config.rules[2]
    assert (lane.band_px, lane.band_ratio) == (None, 0.05)
    assert (gate.band_px, gate.band_ratio, gate.min_travel_px) == (None, 0.1, 20.0)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("  - {id: a, type: zone, zone: nowhere}\n",
         "site.yaml:15 rules[0].zone: unknown zone 'nowhere' (zones: dock)"),
        ("  - id: a\n    type: line\n    line: fence\n",
         "site.yaml:17 rules[0].line: unknown line 'fence' (lines: gate)"),
        ("  - id: a\n    type: count\n    threshold: 1\n    for_s: -1\n",
         "site.yaml:18 rules[0].for_s: input should be greater than or equal to 0, got -1"),
        ("  - id: a\n    type: zone\n    zone: dock\n    classes: [persn]\n",
         "site.yaml:18 rules[0].classes[0]: unknown class 'persn': the models output "
         "helmet, no_helmet, person, vest"),
        ("  - id: a\n    type: missing_ppe\n    required: [hardhat]\n",
         "site.yaml:17 rules[0].required[0]: unknown class 'hardhat'"),
        ("  - id: a\n    type: missing_ppe\n",
         "site.yaml:15 rules[0].required: name `required` items or `violation_classes`"),
        ("  - id: a\n    type: loiter\n    zone: dock\n    dwell_s: 5\n    schedule: {timezone: Mars/Base}\n",
         "site.yaml:19 rules[0].schedule.timezone: unknown timezone 'Mars/Base'"),
        ("  - id: a\n    type: loiter\n    zone: dock\n    dwell_s: 5\n    schedule: {hours: [9-17]}\n",
         'site.yaml:19 rules[0].schedule.hours: expected "HH:MM-HH:MM"'),
        ("  - {id: a, type: zone, zone: dock, anchor: feet}\n",
         "site.yaml:15 rules[0].anchor: input should be"),
        ("  - id: a\n    type: line\n    line: gate\n    band_px: -2\n",
         "site.yaml:18 rules[0].band_px: input should be greater than or equal to 0, got -2"),
        ("  - {id: a, type: zone, zone: dock, band_ratio: 1.5}\n",
         "site.yaml:15 rules[0].band_ratio: input should be less than or equal to 1"),
        ("  - {id: a, type: zone, zone: dock, min_travel_px: 5}\n",
         "site.yaml:15 rules[0].min_travel_px"),
    ],
)
def test_bad_rules_name_file_line_and_key(tmp_path: Path, rules: str, expected: str) -> None:
    assert expected in refusal(tmp_path, rules)


def test_bad_polygons(tmp_path: Path) -> None:
    bowtie = HEAD.replace("[[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]",
                          "[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]")
    assert ("site.yaml:9 zones[0].polygon: the polygon's edges cross each other"
            in refusal(tmp_path, "  []\n", bowtie))
    two = HEAD.replace("[[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]", "[[0.1, 0.1], [0.9, 0.1]]")
    assert "site.yaml:9 zones[0].polygon: list should have at least 3 items" in refusal(tmp_path, "  []\n", two)


def test_unknowable_classes_are_not_checked(tmp_path: Path) -> None:
    # No `names`: the ONNX file's metadata is read only at run time, so any class passes.
    head = HEAD.replace("    names: [person, helmet, vest, no_helmet]\n", "")
    load_config(write(tmp_path, "  - {id: a, type: zone, zone: dock, classes: [forklift]}\n", head))
    # `classes` (after `class_map`) makes them knowable again.
    head = head.replace("    path: ppe.onnx\n", "    path: ppe.onnx\n    classes: [forklift]\n")
    load_config(write(tmp_path, "  - {id: a, type: zone, zone: dock, classes: [forklift]}\n", head))


def test_validate_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: a, type: zone, zone: nowhere}\n  - {id: b, type: line, line: fence}\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "site.yaml:15 rules[0].zone: unknown zone 'nowhere'" in result.stderr
    assert "site.yaml:16 rules[1].line: unknown line 'fence'" in result.stderr
