"""Tracking: ByteTrack from the `trackers` package, driven by frame time.

Frame time (not call count) drives the lost-track budget, so a file processed at any
speed and a live camera that drops frames keep ids for the same seconds.
"""

from __future__ import annotations

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from streamer.detect.base import empty_detections
from streamer.schema import TrackerConfig


class Tracker:
    """Assigns ``tracker_id`` to detections; ``-1`` means not (yet) a confirmed track.

    facts.md: ids start at 0 (never test ``if track_id:``); a new track reads -1 on its
    first frame; a detection under ``activation_confidence`` never starts a track, so the
    default here is lower than the library's 0.7 to suit detectors run at 0.3-0.5.
    """

    def __init__(self, config: TrackerConfig, fps: float) -> None:
        self._tracker = ByteTrackTracker(
            # The library counts its buffer in 30 fps frames; seconds * 30 keeps its unit.
            lost_track_buffer=max(1, int(round(config.lost_buffer_s * 30))),
            frame_rate=fps if fps > 0 else 30.0,
            track_activation_threshold=config.activation_confidence,
            high_conf_det_threshold=config.activation_confidence,
            minimum_iou_threshold=config.min_iou,
            minimum_consecutive_frames=2,
        )

    def update(self, t_s: float, dets: sv.Detections) -> sv.Detections:
        """Track ``dets`` seen at frame time ``t_s``; output order may differ from input."""
        out = self._tracker.update(dets, timestamp=t_s)
        if len(out) == 0:
            # The library's empty result lacks our data fields (facts.md): keep them.
            out = empty_detections()
            out.tracker_id = np.array([], dtype=int)
        return out
