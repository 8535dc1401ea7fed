"""Vision Events payload limits are checked by `streamer validate`, not found on send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import make_video, run_cli, write_config

pytestmark = pytest.mark.integration


def config_with(tmp_path: Path, event: dict[str, Any], rule_id: str = "r") -> Path:
    # validate checks that the source exists: give it a real (tiny) video.
    video = tmp_path / "clip.mp4"
    if not video.exists():
        make_video(video, frames=2)
    return write_config(tmp_path / "site.yaml", {
        "camera": {"source": str(video)},
        "models": [{"id": "m", "kind": "hog"}],
        "zones": [{"id": "lane", "polygon": [[0, 0], [1, 0], [1, 1]]}],
        "rules": [{"id": rule_id, "type": "zone", "zone": "lane", "event": event}],
    })


def test_metadata_counts_the_keys_streamer_adds(tmp_path: Path) -> None:
    ok = {f"k{i}": i for i in range(95)}
    assert run_cli("validate", str(config_with(tmp_path, {"custom_metadata": ok}))).returncode == 0
    too_many = {f"k{i}": i for i in range(96)}
    result = run_cli("validate", str(config_with(tmp_path, {"custom_metadata": too_many})))
    assert result.returncode == 2
    assert "custom_metadata" in result.stderr and "rule_id, zone, track_id, reason and detections_cut" in (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_metadata_keys_values_and_external_id(tmp_path: Path) -> None:
    for event, words in (
        ({"custom_metadata": {"bad/key": 1}}, "must match"),
        ({"custom_metadata": {"note": "x" * 1001}}, "at most 1000"),
        ({"external_id": "e" * 1001}, "external_id"),
    ):
        result = run_cli("validate", str(config_with(tmp_path, event)))
        assert result.returncode == 2 and words in result.stderr, result.stderr
    long_rule = run_cli("validate", str(config_with(tmp_path, {}, rule_id="r" * 1001)))
    assert long_rule.returncode == 2 and "rule_id" in long_rule.stderr
