"""Real footage altered at a known time, for the tamper checks' tests and benchmark (issue 27).

The footage: vtest.avi (a campus plaza from a fixed camera, people walking all the time)
and the demo video. The demo video (bikes.mp4) is a montage of hand-held and panning
shots, none of them still for even two seconds: played as it is, any camera-movement check
rightly says it moved. Its street shot is used as a still camera instead: one of its
frames with fresh sensor noise on every frame.

Alterations are done with OpenCV on the decoded pictures, from ``at_s`` of frame time on
(and until ``until_s`` where given): the camera shifted, covered, defocused, darkened; and
the ones that must *not* raise anything: people walking close to the lens, a short full
occlusion, a light off for a moment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.assets import busy_video, sample_video
from support import video_frames

Alter = Callable[[np.ndarray, float], np.ndarray]  # (picture, seconds since at_s) -> picture
STREET_SHOT_FRAME = 215  # bikes.mp4: the street seen through a fence


@dataclass(frozen=True)
class Footage:
    name: str
    frames: tuple[np.ndarray, ...]
    fps: float

    def at(self, t_s: float) -> np.ndarray:
        """The picture at ``t_s`` (the footage plays forwards then backwards, for ever)."""
        n = len(self.frames)
        i = int(round(t_s * self.fps)) % (2 * n - 2)
        return self.frames[i if i < n else 2 * n - 2 - i]


@functools.cache
def vtest(limit: int = 795) -> Footage:
    """vtest.avi, 768x576 at 10 fps: a fixed camera over a busy plaza."""
    return Footage("vtest", tuple(video_frames(busy_video(), limit)), 10.0)


@functools.cache
def demo_still(seconds: float = 60.0) -> Footage:
    """The demo video's street shot as a still camera: 640x272 at 25 fps (a frame
    repeated with sensor noise; the noise is fresh on every frame)."""
    [picture] = video_frames(sample_video(), 1, start=STREET_SHOT_FRAME)
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(50):  # 50 noise patterns, cycled
        noise = rng.normal(0, 3.0, picture.shape)
        frames.append(np.clip(picture + noise, 0, 255).astype(np.uint8))
    return Footage("demo", tuple(frames), 25.0)


def play(footage: Footage, seconds: float, alter: Alter | None = None, at_s: float = 0.0,
         until_s: float | None = None, every_s: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """``(t_s, picture)`` for ``seconds`` of footage, altered from ``at_s`` to ``until_s``;
    every frame, or one every ``every_s`` (as the view watch samples them)."""
    step = every_s or 1.0 / footage.fps
    for k in range(int(seconds / step) + 1):
        t = k * step
        picture = footage.at(t)
        if alter is not None and t >= at_s and (until_s is None or t < until_s):
            picture = alter(picture.copy(), t - at_s)
        yield t, picture


# --- alterations ---------------------------------------------------------------------


def shifted(fx: float, fy: float = 0.0) -> Alter:
    """The camera knocked sideways: the scene moves by ``fx``/``fy`` of the frame."""

    def alter(picture: np.ndarray, _: float) -> np.ndarray:
        h, w = picture.shape[:2]
        matrix = np.float32([[1, 0, fx * w], [0, 1, fy * h]])
        return cv2.warpAffine(picture, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)

    return alter


def covered(fraction: float, grey: int = 85) -> Alter:
    """Something flat in front of the lens over the left ``fraction`` of the picture."""

    def alter(picture: np.ndarray, _: float) -> np.ndarray:
        w = picture.shape[1]
        picture[:, : int(round(fraction * w))] = grey
        return picture

    return alter


def blurred(sigma: float = 4.0) -> Alter:
    """The lens out of focus (a Gaussian blur of ``sigma`` pixels)."""
    return lambda picture, _: cv2.GaussianBlur(picture, (0, 0), sigma)


def darkened(factor: float = 0.05) -> Alter:
    """The light off: brightness times ``factor`` (near black)."""
    return lambda picture, _: (picture.astype(np.float32) * factor).astype(np.uint8)


@functools.cache
def _person() -> tuple[np.ndarray, np.ndarray]:
    """A person cut out of vtest.avi (picture, mask), to walk close to the lens."""
    footage = vtest()
    background = np.median(np.stack(footage.frames[::8]), axis=0).astype(np.uint8)
    frame = footage.frames[100]
    diff = cv2.absdiff(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.cvtColor(background, cv2.COLOR_BGR2GRAY))
    mask = cv2.morphologyEx((diff > 25).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[biggest, :4]
    return frame[y:y + h, x:x + w].copy(), (labels[y:y + h, x:x + w] == biggest).astype(np.uint8)


def walkers_close(height_share: float = 0.9, speed_share_s: float = 0.35, count: int = 2) -> Alter:
    """People walking across just in front of the lens: a person from the footage scaled
    to ``height_share`` of the picture's height, ``count`` of them a second apart, each
    crossing at ``speed_share_s`` of the width per second."""
    person, mask = _person()

    def alter(picture: np.ndarray, dt: float) -> np.ndarray:
        h, w = picture.shape[:2]
        scale = height_share * h / person.shape[0]
        big = cv2.resize(person, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        big_mask = cv2.resize(mask, (big.shape[1], big.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
        for k in range(count):
            x0 = int((dt - k) * speed_share_s * w) - big.shape[1]
            y0 = h - big.shape[0]
            xs, xe = max(x0, 0), min(x0 + big.shape[1], w)
            if xe <= xs:
                continue
            region = picture[y0:, xs:xe]
            part = big_mask[:, xs - x0:xe - x0]
            region[part] = big[:, xs - x0:xe - x0][part]
        return picture

    return alter


def write_clip(path: Path, frames: Iterator[tuple[float, np.ndarray]], fps: float) -> Path:
    """An MP4 (OpenCV's mp4v) of ``frames``, for runs of the whole pipeline."""
    writer: cv2.VideoWriter | None = None
    for _, picture in frames:
        if writer is None:
            h, w = picture.shape[:2]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            assert writer.isOpened(), path
        writer.write(picture)
    assert writer is not None
    writer.release()
    return path
