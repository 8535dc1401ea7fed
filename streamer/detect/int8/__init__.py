"""int8 copies of ONNX detectors, calibrated on frames of the camera they will watch.

On a CPU with VNNI/AMX the body of a YOLO model runs 1.4-1.9x faster in int8 (static QDQ,
per-channel weights) while its head stays float. Split by job:

- ``graph``: which nodes stay float (the head, the body's two ends), read from the graph;
- ``frames``: calibration frames from a file, a folder of images or a live camera;
- ``calibrate``: quantizing with each method and judging it on held-out frames;
- ``parity``: int8's boxes against fp32's, the count-matching threshold, the report table;
- ``cache``: the copies and their reports on disk, reused across starts.
"""

from __future__ import annotations

from streamer.detect.int8.cache import Int8Plan, cache_paths, load_or_build, save_report
from streamer.detect.int8.calibrate import (
    METHODS,
    RECIPE_VERSION,
    Int8Request,
    Progress,
    build,
    time_sessions,
)
from streamer.detect.int8.frames import calibration_digest, is_live, read_frames
from streamer.detect.int8.graph import float_ends, head_nodes
from streamer.detect.int8.parity import (
    MATCH_IOU,
    NEAR_MARGIN,
    Boxes,
    Decoder,
    choose_threshold,
    filter_boxes,
    format_report,
    parity,
)

__all__ = [
    "MATCH_IOU", "METHODS", "NEAR_MARGIN", "RECIPE_VERSION", "Boxes", "Decoder", "Int8Plan",
    "Int8Request", "Progress", "build", "cache_paths", "calibration_digest", "choose_threshold",
    "filter_boxes", "float_ends", "format_report", "head_nodes", "is_live", "load_or_build",
    "parity", "read_frames", "save_report", "time_sessions",
]
