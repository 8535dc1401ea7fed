"""When the models run on a frame: every frame (analysis), or only when it matters.

Decided for issue 25 (docs/motion.md): a camera (a live source, or a file with
``realtime: true``) is *monitoring*: the models run when motion touches the watched
area, at most ``detect.fps`` times a second of frame time, and at least every
``detect.keepalive_s`` while objects are tracked, so a person standing still stays
tracked. A file read frame by frame is *analysis*: every frame, as before (benchmarks
against peers, references and replays rely on it). A ``replay`` model is never gated or
thinned: its recording already is the model's answer for every frame.

Frame time (``t_s``), never the wall clock, paces every decision, so a file gives the
same runs on every pass.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamer.detect.motion import MotionCheck
from streamer.schema.bases import ConfigBase
from streamer.source.openers import classify

DEFAULT_MONITORING_FPS = 5.0
# Frame times are sums of floats: a run due at 0.6 s must not miss the frame at 0.59999.
EPS_S = 1e-6
# A frame this share of the period before its slot still takes it. A live camera's frame
# times are decode times and jitter by a few ms: a frame 2 ms early for its slot used to
# wait for the next frame, 100 ms later on a 10 fps camera (measured: one run in twenty-
# five lost on a box of six). The grid still advances by whole periods, so the rate stays
# at most ``fps`` a second.
SLOT_TOLERANCE = 0.25

Mode = Literal["monitoring", "analysis", "replay"]


@dataclass(frozen=True)
class DetectPlan:
    """The camera's detection settings with its mode's defaults filled in.

    ``fps`` None: every frame. ``keepalive_s`` is kept under the tracker's lost buffer
    (a still person must be seen again before their track is dropped)."""

    mode: Mode
    fps: float | None
    motion: bool
    keepalive_s: float
    lost_buffer_s: float
    region: bool = False  # detect only around the watched places (detect_region)
    region_margin: float = 0.25

    @property
    def gated(self) -> bool:
        """Whether any frame may go without a model run."""
        return self.motion or self.fps is not None


def detect_plan(config: ConfigBase) -> DetectPlan:
    """``detect`` as this camera runs it: the mode's defaults where the config is silent."""
    detect, lost_s = config.detect, config.tracker.lost_buffer_s
    keepalive = min(detect.keepalive_s, lost_s / 2)
    if any(model.replays_detections() for model in config.models):
        return DetectPlan("replay", None, False, keepalive, lost_s)
    camera = config.camera
    monitoring = camera.realtime or classify(camera.source) != "file"
    mode: Mode = "monitoring" if monitoring else "analysis"
    fps = detect.fps if detect.fps is not None else (DEFAULT_MONITORING_FPS if monitoring else 0.0)
    motion = detect.motion if detect.motion is not None else monitoring
    region = detect.region if detect.region is not None else monitoring
    return DetectPlan(mode, fps or None, motion, keepalive, lost_s, region, detect.region_margin)


# A region this much of the frame or more is the whole frame: the saving is small, and
# the model then sees the picture exactly as it does without a region.
WHOLE_FRAME_SHARE = 0.8


def detect_region(
    places: Sequence[np.ndarray] | None, width: int, height: int, margin: float
) -> tuple[float, float, float, float] | None:
    """The box around ``places`` (zone polygons and line segments in pixels of a
    ``width`` x ``height`` frame) grown by ``margin`` of the frame's height on every side,
    as fractions of the frame (x0, y0, x1, y1); None for the whole frame."""
    if not places:
        return None
    points = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in places])
    grow = margin * height
    (x0, y0), (x1, y1) = points.min(axis=0) - grow, points.max(axis=0) + grow
    return _inside([(float(x0 / width), float(y0 / height), float(x1 / width), float(y1 / height))],
                   None)


# A run no motion asked for looks this many of each object's own heights around it.
STILL_GROW = 1.0
# A run on motion looks this share of the frame's height around what moved (every side):
# a blob may be a person's legs only, and the model needs the whole person and some ground.
MOTION_GROW = 0.15
# Why a run is due when nothing moved in the watched area since the last run.
STILL_REASONS = frozenset({"keepalive", "search"})


def motion_region(
    moved: tuple[float, float, float, float], xyxy: np.ndarray, width: int, height: int,
    within: tuple[float, float, float, float] | None,
) -> tuple[float, float, float, float] | None:
    """Where a run on motion looks: around what moved (``moved``, fractions of the
    frame) grown by ``MOTION_GROW`` of the frame's height, and around the objects tracked
    or sought (as :func:`still_region`), inside ``within``. ``within`` itself when that
    is most of it.

    Why: the watched region of a zone and a line is often most of the frame, while what
    moves in it is one person walking; Frigate's detector looks only at regions around
    its motion boxes for the same reason. Objects that did not move are looked at too, so
    a motion run keeps every track a whole-region run would."""
    grow_x, grow_y = MOTION_GROW * height / width, MOTION_GROW
    spots = [(moved[0] - grow_x, moved[1] - grow_y, moved[2] + grow_x, moved[3] + grow_y)]
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(boxes):
        still = still_region(boxes, width, height, None)
        if still is not None:
            spots.append(still)
    return _inside(spots, within)


def _inside(spots: Sequence[tuple[float, float, float, float]],
            within: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
    """The box around ``spots`` (fractions) clipped to ``within``; ``within`` when that
    box is empty or covers WHOLE_FRAME_SHARE of it."""
    left, top, right, bottom = within if within is not None else (0.0, 0.0, 1.0, 1.0)
    x0, y0 = max(min(s[0] for s in spots), left), max(min(s[1] for s in spots), top)
    x1, y1 = min(max(s[2] for s in spots), right), min(max(s[3] for s in spots), bottom)
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) >= WHOLE_FRAME_SHARE * (right - left) * (bottom - top):
        return within
    return (float(x0), float(y0), float(x1), float(y1))


def still_region(
    xyxy: np.ndarray, width: int, height: int,
    within: tuple[float, float, float, float] | None,
) -> tuple[float, float, float, float] | None:
    """Where a run that no motion asked for (a keepalive, a search) looks: around the
    objects tracked or sought (pixel boxes ``xyxy`` in a ``width`` x ``height`` frame),
    each grown by ``STILL_GROW`` of its own height, inside ``within`` (the watched
    region; None: the frame). Fractions, or ``within`` itself when the objects are spread
    over most of it.

    Why: nothing moved in the watched area since the last run, so whatever the model can
    find again is where it was (anything new would have moved, and a run on motion looks
    where it moved). A person standing in a zone is a tenth of the frame; on a box of
    cameras where people stand for minutes, keepalives and searches were half of the
    model's runs, at the cost of the whole region each."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return within
    grow = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0) * STILL_GROW
    x0, y0 = (boxes[:, 0] - grow).min() / width, (boxes[:, 1] - grow).min() / height
    x1, y1 = (boxes[:, 2] + grow).max() / width, (boxes[:, 3] + grow).max() / height
    return _inside([(float(x0), float(y0), float(x1), float(y1))], within)


class DetectGate:
    """``due(image, t_s, tracking)`` on every frame, ``ran(t_s, missing, found)`` after
    each run; frame-loop thread only.

    The first frame always runs (someone may already stand in the zone). With motion
    on, a frame runs when, within the ``fps`` cap, motion was seen since the last run,
    or objects are tracked and ``keepalive_s`` has passed, or a tracked object went
    missing less than the tracker's lost buffer ago (it is looked for at the full rate
    until it is found or given up, as an ungated run would).

    ``reason`` says why the last run was due, and so where it looks (``motion_region``,
    ``still_region``); "keepalive" runs are *routine* (they only keep still objects
    tracked), so a box's shared inference workers serve other cameras' runs first
    (streamer.detect.shared). ``moved_box`` is where motion was seen before it.
    """

    def __init__(self, plan: DetectPlan, motion: MotionCheck | None) -> None:
        self.plan = plan
        self.motion = motion if plan.motion else None
        self._period_s = 1.0 / plan.fps if plan.fps else 0.0
        self._tolerance_s = max(EPS_S, SLOT_TOLERANCE * self._period_s)
        self._next_slot_s: float | None = None  # earliest frame time of the next run
        self._last_run_s: float | None = None
        self._moved_since_run = False
        # tracked id -> frame time until which it is looked for (found again: removed)
        self._sought: dict[int, float] = {}
        self.reason: str | None = None
        # Around what moved before the last run (fractions of the picture; None: nothing).
        self.moved_box: tuple[float, float, float, float] | None = None
        self.runs_total = 0
        self.skipped_total = 0
        self.runs_for: dict[str, int] = {"first": 0, "motion": 0, "keepalive": 0, "search": 0, "rate": 0}

    def due(self, image: np.ndarray, t_s: float, tracking: bool) -> bool:
        """Whether the models run on this frame. ``image`` (the picture the models would
        see) feeds the motion check on every frame, run or not."""
        motion = self.motion
        if motion is not None and motion.moved(image, t_s):
            self._moved_since_run = True
        reason = self.reason = self._reason(t_s, tracking)
        if reason is None:
            self.skipped_total += 1
            return False
        self.runs_for[reason] += 1
        self.runs_total += 1
        self._last_run_s = t_s
        slot = self._next_slot_s
        # Keep to a grid of 1/fps while runs follow each other, so a camera whose frames
        # jitter around the period still gets fps runs a second, never more.
        if slot is not None and t_s - slot < self._period_s:
            self._next_slot_s = slot + self._period_s
        else:
            self._next_slot_s = t_s + self._period_s
        self._moved_since_run = False
        self.moved_box = motion.take_box() if motion is not None else None
        return True

    def ran(self, t_s: float, missing: Collection[int], found: Collection[int]) -> None:
        """After a run: the tracked ids it did not find again, and those it found.

        A missing object is sought until it is found or the tracker's lost buffer since it
        went missing has passed. Ending the search when it is found matters on a box: a
        person standing still whose score flickers under the threshold once would
        otherwise cost ``fps`` x ``lost_buffer_s`` runs each time (measured: a third of
        six static cameras' runs), runs the cameras where something moves then wait for."""
        sought = self._sought
        for track_id in found:
            sought.pop(track_id, None)
        for track_id in missing:
            sought.setdefault(track_id, t_s + self.plan.lost_buffer_s)
        self._sought = {i: until for i, until in sought.items() if until > t_s + EPS_S}

    def sought(self) -> frozenset[int]:
        """The tracked ids being looked for (missed, neither found again nor given up)."""
        return frozenset(self._sought)

    def _reason(self, t_s: float, tracking: bool) -> str | None:
        if self._last_run_s is None:
            return "first"
        if self._next_slot_s is not None and t_s < self._next_slot_s - self._tolerance_s:
            return None
        if self.motion is None:
            return "rate"
        if self._moved_since_run:
            return "motion"
        if any(t_s < until for until in self._sought.values()):
            return "search"
        if tracking and t_s - self._last_run_s >= self.plan.keepalive_s - EPS_S:
            return "keepalive"
        return None

    def status(self) -> dict[str, object]:
        """``/api/status``'s ``detect``: the mode, the settings and why the models ran."""
        out: dict[str, object] = {
            "mode": self.plan.mode,
            "fps": self.plan.fps,
            "motion": self.plan.motion,
            "keepalive_s": self.plan.keepalive_s,
            "runs_total": self.runs_total,
            "skipped_total": self.skipped_total,
            "runs_for": dict(self.runs_for),
        }
        if self.motion is not None:
            out.update(self.motion.status())
        return out


__all__ = ["DEFAULT_MONITORING_FPS", "STILL_REASONS", "DetectGate", "DetectPlan", "detect_plan",
           "detect_region", "motion_region", "still_region"]
