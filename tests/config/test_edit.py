"""Saving one place rewrites only that place's values (issue 26): comments, order, quoting
and layout stay; pixels stay pixels; a refused edit writes nothing; each save keeps the
old file as a dated backup beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from support import ROOT

from streamer.config import load_config, parse_config
from streamer.config.edit import (
    KEEP_BACKUPS,
    ConfigChanged,
    ConfigFile,
    PlaceRefused,
    PlaceShape,
    edit_place,
)
from streamer.errors import ConfigError

EXAMPLES = sorted((ROOT / "configs").glob("*.yaml"))


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    assert len(before.splitlines()) == len(after.splitlines())
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_moving_a_place_of_each_example_config_changes_its_line_and_nothing_else(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if data.get("zones"):
        place = data["zones"][0]["id"]
        shape = PlaceShape(polygon=((0.1, 0.2), (0.8, 0.2), (0.8, 0.9), (0.1, 0.9)))
        expected = "polygon: [[0.1, 0.2], [0.8, 0.2], [0.8, 0.9], [0.1, 0.9]]"
    else:
        place = data["lines"][0]["id"]
        shape = PlaceShape(start=(0.25, 0.125), end=(0.75, 0.5))
        expected = "start: [0.25, 0.125]"
    edited = edit_place(text, place, shape, 1280, 720)
    changes = changed_lines(text, edited.text)
    assert 1 <= len(changes) <= 2 and expected in changes[0][1]
    assert not edited.added and edited.units == "fractions"


def test_comments_order_quotes_and_indentation_stay() -> None:
    before = (
        "# header comment\n"
        "camera: {id: 'dock', source: \"a.mp4\"}   # inline map, quoted\n"
        "zones:\n"
        "- id: lane        # no indent before the dash\n"
        "  # the corners, one per line\n"
        "  polygon:\n"
    )
    after = "rules: []\n# footer comment\n"
    text = before + (
        "  - [0.10, 0.20]\n"
        "  - [0.90, 0.20]   # top right\n"
        "  - [0.90, 0.80]\n"
    ) + after
    edited = edit_place(text, "lane", PlaceShape(polygon=((0.1, 0.2), (0.5, 0.1), (0.9, 0.8), (0.1, 0.8))), 640, 360)
    # Only the corners change; the comment on a corner keeps its column.
    assert edited.text == before + (
        "  - [0.1, 0.2]\n"
        "  - [0.5, 0.1]     # top right\n"
        "  - [0.9, 0.8]\n"
        "  - [0.1, 0.8]\n"
    ) + after


def test_a_zone_in_pixels_stays_in_pixels() -> None:
    text = "zones:\n  - id: dock   # pixels of the 640x360 picture\n    polygon: [[400, 20], [600, 20], [600, 80]]\n"
    edited = edit_place(text, "dock", PlaceShape(polygon=((0.5, 0.1), (1.0, 0.1), (1.0, 0.5))), 640, 360)
    assert edited.units == "pixels"
    assert "polygon: [[320, 36], [640, 36], [640, 180]]" in edited.text
    assert edited.place == {"id": "dock", "polygon": [[0.5, 0.1], [1.0, 0.1], [1.0, 0.5]]}
    floats = "lines:\n  - id: gate\n    start: [10.5, 2.0]\n    end: [300.0, 200.0]\n"
    moved = edit_place(floats, "gate", PlaceShape(start=(0.0001, 0.5), end=(0.5, 0.5)), 640, 360)
    assert "start: [0.1, 180.0]\n    end: [320.0, 180.0]" in moved.text and moved.units == "pixels"


def test_a_pixel_zone_squeezed_into_the_first_pixel_is_refused() -> None:
    text = "zones:\n  - id: dock\n    polygon: [[400, 20], [600, 20], [600, 80]]\n"
    with pytest.raises(PlaceRefused, match="first pixel"):
        edit_place(text, "dock", PlaceShape(polygon=((0.0, 0.0), (0.001, 0.0), (0.001, 0.001))), 640, 360)


def test_a_new_place_is_added_where_its_section_belongs() -> None:
    text = "camera: {id: dock, source: a.mp4}\nzones: []\nrules: []  # none yet\n"
    zone = edit_place(text, "lane", PlaceShape(polygon=((0.1, 0.1), (0.5, 0.1), (0.5, 0.5))), 640, 360)
    assert zone.added and zone.units == "fractions"
    assert zone.text == (
        "camera: {id: dock, source: a.mp4}\nzones:\n- id: lane\n  polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\n"
        "rules: []  # none yet\n"
    )
    line = edit_place(zone.text, "gate", PlaceShape(start=(0.5, 0.0), end=(0.5, 1.0)), 640, 360)
    assert "  polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\nlines:\n- id: gate\n  start: [0.5, 0.0]\n  end: [0.5, 1.0]\nrules:" in line.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"polygon": [[0.1, 0.1], [1.5, 0.2], [0.3, 0.3]]}, "corner 2 (1.5, 0.2) is out of the frame"),
        ({"start": [0.1, -0.2], "end": [0.3, 0.3]}, "start (0.1, -0.2) is out of the frame"),
        ({"polygon": [[0.1, 0.1], ["a", 0.2], [0.3, 0.3]]}, "corner 2 must be [x, y], two numbers"),
        ({"polygon": [[0.1, 0.1], [True, 0.2], [0.3, 0.3]]}, "corner 2 must be [x, y]"),
        ({"polygon": "0.1,0.1"}, "polygon must be a list"),
        ({"start": [0.1, 0.1]}, 'send {"polygon"'),
        ({"polygon": [[0.1, 0.1]] * 300}, "at most 256 corners"),
    ],
)
def test_bodies_the_api_refuses_before_the_file_is_read(body: dict, message: str) -> None:
    with pytest.raises(PlaceRefused, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        PlaceShape.from_json("lane", body)


@pytest.mark.parametrize("place_id", ["", " lane", "a/b", "tab\there", "x" * 101])
def test_place_ids_that_would_not_survive_a_url_or_a_yaml_key(place_id: str) -> None:
    with pytest.raises(PlaceRefused, match="a place id is 1 to 100 characters"):
        PlaceShape.from_json(place_id, {"polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]})


SITE = """\
# site header
camera:
  id: dock
  source: rtsp://cam-dock/stream1
models:
  - id: people
    kind: hog
zones:
  - id: lane   # the lane
    polygon: [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
rules:
  - id: lane-intrusion
    type: zone
    zone: lane
sinks:
  - type: jsonl
    path: events.jsonl
"""


def test_a_save_validates_backs_up_and_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    os.chmod(path, 0o640)
    saved = ConfigFile(path, env={}).save("lane", PlaceShape(polygon=((0.0, 0.5), (1.0, 0.5), (1.0, 1.0))), 640, 360)
    assert saved.backup.name.startswith("site.yaml.") and saved.backup.name.endswith("Z.bak")
    assert saved.backup.read_text(encoding="utf-8") == SITE
    text = path.read_text(encoding="utf-8")
    assert "  - id: lane   # the lane\n    polygon: [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0]]\n" in text
    assert parse_config(text, str(path), env={}).zones[0].polygon == [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0)]
    assert saved.config.zones[0].polygon == [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0)]
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert not list(tmp_path.glob(".site.yaml.*"))  # no temporary file left behind


def test_a_refused_save_writes_nothing_and_says_what_validate_says(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    bow_tie = PlaceShape(polygon=((0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)))
    with pytest.raises(ConfigError) as refused:
        ConfigFile(path, env={}).save("lane", bow_tie, 640, 360)
    assert str(refused.value) == (
        f"{path}:10 zones[0].polygon: the polygon's edges cross each other; list the corners in order around the zone"
    )
    with pytest.raises(ConfigError, match=r"site.yaml:10 zones\[0\].polygon: list should have at least 3 items"):
        ConfigFile(path, env={}).save("lane", PlaceShape(polygon=((0.1, 0.1), (0.9, 0.9))), 640, 360)
    assert path.read_text(encoding="utf-8") == SITE and not list(tmp_path.glob("*.bak"))


def test_only_the_newest_backups_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    config_file = ConfigFile(path, env={})
    for step in range(KEEP_BACKUPS + 3):
        x = round(0.1 + step * 0.01, 2)
        config_file.save("lane", PlaceShape(polygon=((x, 0.1), (0.9, 0.1), (0.9, 0.9))), 640, 360)
    backups = config_file.backups()
    assert len(backups) == KEEP_BACKUPS
    # The newest backup holds the file as it was before the last save.
    assert "[[0.31, 0.1], [0.9, 0.1], [0.9, 0.9]]" in backups[-1].read_text(encoding="utf-8")


def test_a_file_changed_on_disk_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")

    class Racing(ConfigFile):
        def _validated(self, *args: object, **kwargs: object) -> object:  # a hand edit meanwhile
            result = super()._validated(*args, **kwargs)  # type: ignore[arg-type]
            path.write_text(SITE + "# edited by hand\n", encoding="utf-8")
            return result

    with pytest.raises(ConfigChanged, match="changed on disk meanwhile"):
        Racing(path, env={}).save("lane", PlaceShape(polygon=((0.1, 0.1), (0.9, 0.1), (0.9, 0.9))), 640, 360)
    assert path.read_text(encoding="utf-8").endswith("# edited by hand\n") and not list(tmp_path.glob("*.bak"))


def test_a_save_runs_validates_disk_checks_too(tmp_path: Path) -> None:
    """What `validate` checks beyond the file (here: the model file is missing) refuses a
    save as it refuses the file, with the same line."""
    path = tmp_path / "site.yaml"
    path.write_text(SITE.replace("kind: hog", f"kind: onnx\n    path: {tmp_path / 'missing.onnx'}"), encoding="utf-8")
    with pytest.raises(ConfigError) as validate_says:
        load_config(path, check_disk=True)
    with pytest.raises(ConfigError) as refused:
        ConfigFile(path, env={}).save("lane", PlaceShape(polygon=((0.1, 0.1), (0.9, 0.1), (0.9, 0.9))), 640, 360)
    assert str(refused.value) == str(validate_says.value) and "models[0]" in str(refused.value)
    assert "missing.onnx" in path.read_text(encoding="utf-8") and not list(tmp_path.glob("*.bak"))
