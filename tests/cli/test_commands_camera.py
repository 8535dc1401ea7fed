"""``streamer camera reference CONFIG`` (issue 27): the real CLI in a subprocess stores the
camera's picture as its reference view beside the outbox, with the places as configured;
a bad config is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from support import make_video, run_cli, write_config

from streamer.source.view import reference_path

pytestmark = pytest.mark.integration

LANE = [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]


def test_camera_reference_stores_the_view_and_its_places_beside_the_outbox(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=10)
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock 3/east", "source": str(video)},
        "models": [{"id": "people", "kind": "hog"}],
        "zones": [{"id": "lane", "polygon": LANE}],
        "lines": [{"id": "gate", "start": [0.5, 0.1], "end": [0.5, 0.9]}],
        "outbox": {"path": str(tmp_path / "data" / "outbox.db")},
    })
    result = run_cli("camera", "reference", str(config))
    assert result.returncode == 0, result.stderr
    image_path = reference_path(tmp_path / "data" / "outbox.db", "dock 3/east")
    assert image_path == tmp_path / "data" / "outbox.views" / "dock_3_east.jpg"
    assert str(image_path) in result.stdout and "1 zone(s), 1 line(s)" in result.stdout
    assert cv2.imread(str(image_path)).shape == (360, 640, 3)
    meta = json.loads(image_path.with_suffix(".json").read_text())
    assert meta["places"] == {"zones": {"lane": LANE}, "lines": {"gate": [[0.5, 0.1], [0.5, 0.9]]}}
    assert meta["camera_id"] == "dock 3/east" and meta["width"] == 640


def test_camera_reference_with_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"source": "x.mp4", "tamper": {"every_s": -1}},
        "models": [{"id": "people", "kind": "hog"}],
    })
    result = run_cli("camera", "reference", str(config))
    assert result.returncode == 2
    assert "camera.tamper.every_s" in result.stderr and "Traceback" not in result.stderr
