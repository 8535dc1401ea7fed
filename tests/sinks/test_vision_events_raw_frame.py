"""``upload_input_image``: a real run sends the camera's raw frame, without the overlay, beside
the snapshot to a local Vision Events server."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from support import (
    API_KEY,
    run_in_process,
    scene,
    walker,
)
from support.vision_events_server import VisionEventsServer

pytestmark = [pytest.mark.integration, pytest.mark.system]


def test_upload_input_image_sends_the_raw_frame_as_input_source(tmp_path: Path, video: Path) -> None:
    with VisionEventsServer(api_key=API_KEY, use_cases=("site-safety",)) as server:
        sink = {"type": "vision_events", "api_url": server.url, "api_key": API_KEY,
                "use_case": "site-safety", "upload_input_image": True}
        config = scene(tmp_path, video, walker(range(0, 40), x_start=200, x_step=10, y1=100), [sink])
        summary = run_in_process(config)
        assert summary.delivered == {"vision_events": 1}
        (event,) = server.events.values()
        (image,) = event["images"]
        snapshot = cv2.imdecode(np.frombuffer(server.uploads[image["sourceId"]], np.uint8), 1)
        raw = cv2.imdecode(np.frombuffer(server.uploads[image["inputSourceId"]], np.uint8), 1)
        assert snapshot.shape == raw.shape == (360, 640, 3)
        # The raw frame has no overlay: the snapshot differs from it where boxes are drawn.
        assert np.abs(snapshot.astype(int) - raw.astype(int)).max() > 100
