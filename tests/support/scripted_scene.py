"""A camera scene made of real pictures, and a detector that really looks at them.

The picture is a fixed textured background with sensor noise on every frame (so nothing
is ever bit-identical); people are solid red boxes that walk or stand where a script
puts them. ``RedBoxDetector`` finds them from the pixels alone (red above a threshold,
one box per connected blob), so a model run on a sub-stream or a skipped frame is a real
difference in what it sees, and it counts its runs. No streamer code is replaced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import supervision as sv

from streamer.detect.base import NO_CAMERA, Detector, DetectorContext, make_detections
from streamer.detect.multi import DetectorSet
from streamer.pipeline.events import EventsStage
from streamer.pipeline.step import FrameStep
from streamer.plugins import PLUGINS
from streamer.rules.base import RuleEvent
from streamer.schema.bases import ModelBase
from streamer.source.frame import Frame

# (x_foot, y_foot) of each person at a frame time, or None when they are not in view.
Script = Callable[[float], Sequence[tuple[float, float]]]
PERSON_W, PERSON_H = 24, 64
NOISE_FRAMES = 17
PERSON_BGR = (110, 110, 255)  # red, and brighter than the ground (motion reads grey)


def background(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A dark grey-green textured ground: smooth blobs, nothing red, darker than people."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 100, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


@functools.cache
def _noise_bank(shape: tuple[int, ...], sigma: float, seed: int) -> tuple[np.ndarray, ...]:
    """NOISE_FRAMES frames of Gaussian sensor noise (int16), drawn once and cycled:
    consecutive frames always differ, and a minute of video costs no minute of drawing."""
    rng = np.random.default_rng(seed)
    return tuple(np.round(rng.normal(0.0, sigma, shape)).astype(np.int16) for _ in range(NOISE_FRAMES))


def picture(base: np.ndarray, people: Sequence[tuple[float, float]], index: int,
            noise: float = 3.0, scale: float = 1.0, seed: int = 1) -> np.ndarray:
    """``base`` with a red box standing on each foot point, plus sensor noise (frame
    ``index`` of the noise); ``scale`` < 1 gives the same scene as a smaller sub-stream."""
    image = base.copy()
    for x, y in people:
        x1, y1 = int(round(x - PERSON_W / 2)), int(round(y - PERSON_H))
        cv2.rectangle(image, (x1, y1), (x1 + PERSON_W - 1, int(round(y)) - 1), PERSON_BGR, -1)
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    bank = _noise_bank(image.shape, noise, seed)
    return cv2.add(image, bank[index % NOISE_FRAMES], dtype=cv2.CV_8U)


def frames(script: Script, seconds: float, fps: float = 10.0, width: int = 320, height: int = 240,
           noise: float = 3.0, scale: float = 1.0, seed: int = 1) -> Iterator[Frame]:
    """The scene as frames at ``fps``, frame time = index / fps."""
    base = background(width, height)
    for index in range(int(round(seconds * fps))):
        t_s = index / fps
        image = picture(base, script(t_s), index, noise, scale, seed)
        yield Frame(image=image, index=index, t_s=t_s, wall_ts=1_700_000_000.0 + t_s)


class RedBoxDetector(Detector):
    """Finds the scene's people: one box per red blob, class ``person``, confidence 0.9."""

    def __init__(self, model_id: str = "people", misses: frozenset[int] = frozenset()) -> None:
        self.model_id = model_id
        self.misses = misses  # frame indices where it finds nobody (a weak detection)
        self.runs: list[float] = []  # frame time of every run
        self.sizes: list[tuple[int, int]] = []  # picture size of every run
        self.regions: list[object] = []  # the region the step asked each run to look at
        self.routine: list[bool] = []  # whether each run was a keepalive (Frame.routine)

    def detect(self, frame: Frame) -> sv.Detections:
        self.runs.append(frame.t_s)
        self.sizes.append((frame.width, frame.height))
        self.regions.append(frame.region)
        self.routine.append(frame.routine)
        if frame.index in self.misses:
            return make_detections(np.zeros((0, 4)), [], [], self.model_id)
        image = frame.image.astype(np.int16)
        b, g, r = image[:, :, 0], image[:, :, 1], image[:, :, 2]
        red = ((r > 200) & (r - g > 80) & (r - b > 80)).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(red)
        boxes = [
            (x, y, x + w, y + h) for x, y, w, h, area in stats[1:count] if area >= 12
        ]
        return make_detections(
            np.array(boxes, dtype=np.float32).reshape(-1, 4), [0.9] * len(boxes),
            ["person"] * len(boxes), self.model_id,
        )



class RedBoxModelConfig(ModelBase):
    """``kind: redbox`` for configs read through :data:`PLUGINS_WITH_REDBOX`."""

    kind: Literal["redbox"]

    def build(self, context: DetectorContext = NO_CAMERA) -> RedBoxDetector:
        return RedBoxDetector(self.id)

    def output_classes(self) -> set[str] | None:
        return {"person"}


PLUGINS_WITH_REDBOX = PLUGINS.adding(models=(RedBoxModelConfig,))


@dataclass
class Run:
    """What one pass of frames through a :class:`FrameStep` gave."""

    step: FrameStep
    detector: RedBoxDetector
    events: list[RuleEvent] = field(default_factory=list)
    tracked: list[int] = field(default_factory=list)  # confirmed tracks the rules saw, per frame
    states: list[dict[str, object]] = field(default_factory=list)  # each rule's state per frame


def run_step(config: object, scene: Iterator[Frame], fps: float = 10.0,
             misses: frozenset[int] = frozenset()) -> Run:
    """Every frame of ``scene`` through the real frame step (real ByteTrack, real rules);
    the detector finds nobody on the frames in ``misses``."""
    detector = RedBoxDetector(misses=misses)
    step = FrameStep(config, DetectorSet.of([detector], config.models), EventsStage(None),  # type: ignore[arg-type, attr-defined]
                     lambda seconds: None)
    out = Run(step, detector)
    started = False
    for frame in scene:
        if not started:
            step.begin(frame.width, frame.height, fps)
            started = True
        out.events += step.step(frame)
        seen = step.last_tracked
        out.tracked.append(int(np.sum(np.asarray(seen.tracker_id) >= 0)) if seen.tracker_id is not None else 0)
        assert step.scene is not None
        out.states.append({rule.rule_id: rule.state() for rule in step.scene.rules})
    return out
