"""`streamer snapshot CONFIG -o frame.jpg`: the camera's picture with a labelled grid and
the config's zones and lines, so a zone's corners are read off the picture, not guessed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from support import make_video, run_cli, write_config

pytestmark = pytest.mark.integration


def test_snapshot_draws_the_grid_and_the_places(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=3, size=(640, 360))
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"source": str(video)},
        "models": [{"id": "people", "kind": "hog"}],
        "zones": [{"id": "lane", "polygon": [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]]},
                  {"id": "dock", "polygon": [[10, 10], [100, 10], [100, 100]]}],  # pixels
        "lines": [{"id": "gate", "start": [0.2, 0.1], "end": [0.2, 0.9]}],
    })
    out = tmp_path / "shots" / "frame.jpg"
    result = run_cli("snapshot", str(config), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"{out}: 640x360 px, 2 zone(s), 1 line(s); grid every 0.1 "
                                     "of the frame")
    picture = cv2.imread(str(out))
    assert picture.shape == (360, 640, 3)
    plain = cv2.VideoCapture(str(video)).read()[1]

    def changed(x: int, y: int) -> bool:
        return bool(np.abs(picture[y, x].astype(int) - plain[y, x].astype(int)).sum() > 60)

    # The zone's edges (fractions and pixels alike), the line, the grid's lines.
    assert changed(448, 180) and changed(576, 250) and changed(100, 50)
    assert changed(128, 200)  # the line at x = 0.2
    assert changed(320, 300)  # a grid line at x = 0.5, away from any place
    assert not changed(300, 300)  # between grid lines: the camera's own picture


def test_snapshot_of_an_unreachable_camera_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"source": "rtsp://viewer:hunter2@127.0.0.1:9/stream1", "open_timeout_s": 2},
        "models": [{"id": "people", "kind": "hog"}],
    })
    result = run_cli("snapshot", str(config), "-o", str(tmp_path / "frame.jpg"), timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: camera.source: cannot open stream rtsp://***@127.0.0.1:9")
    assert "hunter2" not in result.stderr and not (tmp_path / "frame.jpg").exists()


@pytest.mark.system
def test_snapshot_of_a_real_rtsp_camera(tmp_path: Path, clip: Path) -> None:
    """The real GStreamer RTSP server as the camera: one frame of its stream, its size."""
    from support.rtsp import RtspServer

    server = RtspServer(clip).start()
    try:
        config = write_config(tmp_path / "site.yaml", {
            "camera": {"source": server.url("viewer:hunter2"), "open_timeout_s": 10},
            "models": [{"id": "people", "kind": "hog"}],
            "zones": [{"id": "lane", "polygon": [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]}],
        })
        out = tmp_path / "frame.jpg"
        result = run_cli("snapshot", str(config), "-o", str(out), timeout=60)
    finally:
        server.kill()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{out}: 320x240 px, 1 zone(s)")
    assert cv2.imread(str(out)).shape == (240, 320, 3)
    assert "hunter2" not in result.stdout + result.stderr
