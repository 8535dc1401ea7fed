"""Tracking: ByteTrack from the `trackers` package, driven by frame time.

Frame time (not call count) drives the lost-track budget, so a file processed at any
speed and a live camera that drops frames keep ids for the same seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from streamer.detect.base import empty_detections
from streamer.schema.sections import TrackerConfig
from streamer.track.continuity import JOIN_SPEED_H_PER_S, MAX_GAP_S, jumped, lost


@dataclass
class _Sighting:
    """Where a confirmed track was last output: its box's centre and height, at t_s."""

    t_s: float
    centre: tuple[float, float]
    height: float


# A false box that takes a track over for a frame or two leaves its own position as the
# track's last: a newborn track is compared with the track's last few sightings.
SIGHTINGS = 4
# A person's box changes height by a few per cent between frames (4 px of jitter per edge
# is 6 % of a 100 px box, one sigma); a box 15 % taller or shorter than where its track was
# is someone else or a false box. Measured with benchmarks/alert_quality.py: 0.2 lets a
# track pass to a person 16 % shorter standing in front (TUD-Stadtmitte, seeds 1 and 6).
MAX_RESIZE = 0.15


class Tracker:
    """Assigns ``tracker_id`` to detections; ``-1`` means not (yet) a confirmed track.

    docs/architecture.md, "Measured": ids start at 0 (never test ``if track_id:``); a new track reads -1 on its
    first frame; a detection under ``activation_confidence`` never starts a track, so the
    default here is lower than the library's 0.7 to suit detectors run at 0.3-0.5.

    Re-join (issue 18): ByteTrack loses a person when a false box takes their track over
    for a frame or two (the track follows the false box, the person starts a new track).
    A newly confirmed track that appears within MAX_GAP_S of one of a confirmed track's
    last SIGHTINGS, no further from it than a person walks (continuity), about its size,
    while that track is not output in the same frame, takes that track's id: rules see one
    person with one id, so a zone counts them once and a line keeps the side they came
    from. The nearest pair joins first; the lost track is dropped so its id is never
    output twice.

    Takeover guard: when a confirmed track's box is further from its last sighting than a
    person moves, or MAX_RESIZE taller or shorter than its sightings of the last MAX_GAP_S,
    ByteTrack has handed the track to a false box or to someone standing in front. That
    row goes out as -1 (drawn, counted by nothing that needs an id) until the track is
    back where its person was, or the person, reborn, re-joins the id; once the track's
    person is lost (continuity.lost) the new box is taken as the track's, and the rules
    forget its side then.
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
        self._rejoin = config.rejoin
        self._seen: dict[int, list[_Sighting]] = {}
        # ByteTrack hands out ids in increasing order: an id from here on is newborn (an
        # old id the library finds again after MAX_GAP_S is not, though it left _seen).
        self._first_new_id = 0
        self._previous_t_s = float("-inf")  # the frame before this one (continuity.lost)
        self.joined_total = 0

    def update(self, t_s: float, dets: sv.Detections) -> sv.Detections:
        """Track ``dets`` seen at frame time ``t_s``; output order may differ from input."""
        out = self._tracker.update(dets, timestamp=t_s)
        if len(out) == 0:
            # The library's empty result lacks our data fields (docs/architecture.md, "Measured"): keep them.
            out = empty_detections()
            out.tracker_id = np.array([], dtype=int)
        if self._rejoin:
            self._join(t_s, out)
        self._previous_t_s = t_s
        return out

    def _join(self, t_s: float, out: sv.Detections) -> None:
        """Hide takeovers, give newborn tracks the id of the lost track they continue, and
        remember where every confirmed track was seen."""
        ids = out.tracker_id
        if ids is None:  # the tracker gives every row it returns an id (-1: unconfirmed)
            return
        xyxy = np.asarray(out.xyxy, dtype=np.float64).reshape(-1, 4)
        centres = np.stack(((xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2), axis=1)
        heights = xyxy[:, 3] - xyxy[:, 1]
        newborn_from = self._first_new_id
        for k, i in enumerate(ids.tolist()):
            if 0 <= i < newborn_from and self._taken_over(i, t_s, centres[k], heights[k]):
                ids[k] = -1
        rows = [(int(i), k) for k, i in enumerate(ids.tolist()) if i >= 0]
        present = {i for i, _ in rows}
        newborn = [(i, k) for i, k in rows if i >= newborn_from]
        if newborn:
            self._first_new_id = max(i for i, _ in newborn) + 1
            pairs = []
            for old, sightings in self._seen.items():
                if old in present:
                    continue
                for new, k in newborn:
                    x, y = centres[k]
                    near = [float(np.hypot(x - s.centre[0], y - s.centre[1])) for s in sightings
                            if t_s - s.t_s <= MAX_GAP_S
                            and abs(heights[k] / max(s.height, 1e-9) - 1) <= MAX_RESIZE
                            and not jumped(s.centre, max(heights[k], s.height), s.t_s, x, y,
                                           t_s, JOIN_SPEED_H_PER_S)]
                    if near:
                        pairs.append((min(near), new, k, old))
            taken: set[int] = set()
            for _, new, k, old in sorted(pairs):
                if new in taken or old in taken:
                    continue
                taken |= {new, old}
                self._relabel(new, old)
                ids[k] = old
                self.joined_total += 1
        for i, k in ((int(i), k) for k, i in enumerate(ids.tolist()) if i >= 0):
            sightings = self._seen.setdefault(i, [])
            if sightings and lost(sightings[-1].t_s, t_s, self._previous_t_s):
                sightings.clear()  # maybe someone else now: their size starts afresh
            centre = (float(centres[k, 0]), float(centres[k, 1]))
            sightings.append(_Sighting(t_s, centre, float(heights[k])))
            del sightings[:-SIGHTINGS]
        if len(self._seen) > 4 * max(len(present), 16):
            self._seen = {i: s for i, s in self._seen.items()
                          if not lost(s[-1].t_s, t_s, self._previous_t_s)}

    def _taken_over(self, track_id: int, t_s: float, centre: np.ndarray, height: float) -> bool:
        """Whether track ``track_id``'s box now is someone else's: it moved further, or
        changed size more, than its person could since last seen (and not lost since).
        Size is judged only within MAX_GAP_S: over the second between two frames of a slow
        pipeline, a person walking up to a near camera grows by a third."""
        sightings = self._seen.get(track_id)
        if not sightings or lost(sightings[-1].t_s, t_s, self._previous_t_s):
            return False
        last = sightings[-1]
        if t_s - last.t_s <= MAX_GAP_S:
            ref = float(np.median([s.height for s in sightings]))
            if abs(height / max(ref, 1e-9) - 1) > MAX_RESIZE:
                return True
        x, y = float(centre[0]), float(centre[1])
        return jumped(last.centre, max(height, last.height), last.t_s, x, y, t_s)

    def _relabel(self, new: int, old: int) -> None:
        """The library's tracklet ``new`` carries on as ``old``; the lost ``old`` goes."""
        tracks = self._tracker.tracks
        self._tracker.tracks = [t for t in tracks if t.tracker_id != old]
        for track in self._tracker.tracks:
            if track.tracker_id == new:
                track.tracker_id = old
