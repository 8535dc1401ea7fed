"""``streamer snapshot CONFIG -o frame.jpg``: one frame of the camera with a coordinate
grid and the config's zones and lines drawn on it, for people who write places in YAML.

The grid labels each line with its fraction of the frame and its pixel, so a corner read
off the picture can be written either way; the places drawn are the file's current ones,
so a corner that is off shows before any run.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from streamer.config.models import Config
from streamer.errors import StreamerError
from streamer.overlay import Overlay, draw_grid
from streamer.source.openers import classify, open_stream


def grab_frame(config: Config) -> np.ndarray:
    """The camera's first frame, as ``run`` sees it (scaled to ``camera.resize`` if set).

    Raises:
        SourceError: the camera cannot be opened or gives no frame (bounded by its
            open and read timeouts).
    """
    stream = open_stream(config.camera, classify(config.camera.source))
    try:
        ok, image = stream.read()
    finally:
        stream.release()
    assert ok and image is not None  # open_stream holds a decoded first frame back
    if config.camera.resize is not None:
        image = cv2.resize(image, tuple(config.camera.resize), interpolation=cv2.INTER_AREA)
    return image


def snapshot(config: Config, output: Path, grid_step: float = 0.1) -> tuple[int, int]:
    """Write the annotated frame to ``output`` (JPEG or PNG by its suffix); returns its
    width and height in pixels."""
    image = grab_frame(config)
    height, width = image.shape[:2]
    picture = Overlay(config, width, height).draw_places(draw_grid(image, grid_step))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        written = cv2.imwrite(str(output), picture)
    except (OSError, cv2.error) as exc:
        raise StreamerError(f"-o {output}: cannot write the picture: {exc}") from None
    if not written:
        raise StreamerError(f"-o {output}: cannot write the picture (a .jpg or .png name?)")
    return width, height
