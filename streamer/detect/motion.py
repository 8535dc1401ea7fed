"""The cheap motion check that decides whether a frame is worth a model run.

A downscaled, blurred grey copy of each frame is compared with a running background
(an exponential average over ``BACKGROUND_S`` seconds of frame time); pixels that differ
by more than ``motion.threshold`` grey levels move. Only moving pixels inside the
watched area count (the zones and lines the rules name, grown by ``motion.margin``, or
the whole frame), and never those under ``motion.mask`` (a clock, a tree). It costs
well under a millisecond on a 160-pixel-wide copy, against ~200 ms for a model run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from streamer.schema.sections import MotionConfig

# Width of the copy the check works on: a person 40 px wide at 768 px stays 8 px wide,
# far above ``min_area``; a 1080p frame shrinks in about a millisecond.
WORK_WIDTH = 160
# How fast the background follows the picture: something that stops moving becomes
# background in a few seconds (then only the keep-alive runs the models); a passing
# shadow leaves no ghost for long.
BACKGROUND_S = 1.0


def relative(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels of a ``width`` x ``height`` frame as fractions of it."""
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) / np.array([width, height], dtype=np.float64)


class MotionCheck:
    """``moved(image, t_s)``: whether anything moved in the watched area since the
    background caught up. Runs on the frame-loop thread.

    Args:
        settings: the config's ``motion`` section.
        zones, lines: the watched places as fractions of the frame (polygons (N, 2),
            segments (2, 2)); ``None`` watches the whole frame.
        mask: polygons (fractions of the frame) where motion is ignored.
    """

    def __init__(
        self,
        settings: MotionConfig,
        zones: Sequence[np.ndarray] | None,
        lines: Sequence[np.ndarray] = (),
        mask: Sequence[np.ndarray] = (),
    ) -> None:
        self._settings = settings
        self._zones = None if zones is None else tuple(zones)
        self._lines = tuple(lines)
        self._mask = tuple(mask)
        self._input: tuple[int, int] | None = None  # (width, height) of the frames seen
        self._size = (0, 0)  # (width, height) of the work copy
        self._area: np.ndarray | None = None  # uint8 255 where motion counts
        self._min_pixels = 1
        self._background: np.ndarray | None = None
        self._last_t_s: float | None = None
        self.frames_total = 0
        self.moving_frames_total = 0
        self.last_share = 0.0  # share of the watched area moving in the latest frame
        self._unmasked: np.ndarray | None = None  # uint8 255 outside motion.mask
        # Work-copy pixels (x0, y0, x1, y1) around what moved since take_box(); None: nothing.
        self._moved_box: tuple[int, int, int, int] | None = None

    def watch(
        self, zones: Sequence[np.ndarray] | None, lines: Sequence[np.ndarray] = (),
        mask: Sequence[np.ndarray] = (),
    ) -> None:
        """New watched places and mask (fractions of the frame; a reloaded config too);
        the background is kept."""
        self._zones = None if zones is None else tuple(zones)
        self._lines = tuple(lines)
        self._mask = tuple(mask)
        self._area = None

    def moved(self, image: np.ndarray, t_s: float) -> bool:
        """Whether the watched area moves in ``image`` (BGR or grey), at frame time ``t_s``.

        The first frame only seeds the background (it reads as no motion)."""
        grey = self._work_copy(image)
        if self._area is None:
            self._area = self._build_area()
        self.frames_total += 1
        background = self._background
        if background is None or background.shape != grey.shape:
            self._background = grey.astype(np.float32)
            self._last_t_s = t_s
            return False
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(background))
        # 255 where the difference is above the threshold (cv2.compare's CMP_GT, as a
        # threshold call: the same mask, with a typed signature).
        moving = cv2.threshold(diff, self._settings.threshold, 255, cv2.THRESH_BINARY)[1]
        count = cv2.countNonZero(cv2.bitwise_and(moving, self._area))
        self._note_box(moving)
        area = max(cv2.countNonZero(self._area), 1)
        self.last_share = count / area
        dt = max(t_s - (self._last_t_s if self._last_t_s is not None else t_s), 0.0)
        alpha = 1.0 - math.exp(-dt / BACKGROUND_S) if dt > 0 else 0.05
        cv2.accumulateWeighted(grey, background, min(max(alpha, 0.01), 1.0))
        self._last_t_s = t_s
        moved = count >= self._min_pixels
        self.moving_frames_total += int(moved)
        return moved

    def take_box(self) -> tuple[float, float, float, float] | None:
        """The box around every blob that moved since the last call, anywhere outside the
        mask (a person whose feet enter the zone moves above it too), as fractions of the
        frame; None when nothing did. A model run on motion looks there."""
        box, self._moved_box = self._moved_box, None
        if box is None:
            return None
        work_w, work_h = self._size
        return (box[0] / work_w, box[1] / work_h, box[2] / work_w, box[3] / work_h)

    def _note_box(self, moving: np.ndarray) -> None:
        """Grow the moved box by this frame's blobs (specks under half of ``min_area`` are
        sensor noise, not something to look at)."""
        if self._unmasked is not None:
            moving = cv2.bitwise_and(moving, self._unmasked)
        if not cv2.countNonZero(moving):
            return
        count, _, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
        blobs = stats[1:count]
        blobs = blobs[blobs[:, cv2.CC_STAT_AREA] >= max(1, self._min_pixels // 2)]
        if not len(blobs):
            return
        x0, y0 = int(blobs[:, 0].min()), int(blobs[:, 1].min())
        x1 = int((blobs[:, 0] + blobs[:, 2]).max())
        y1 = int((blobs[:, 1] + blobs[:, 3]).max())
        if self._moved_box is not None:
            bx0, by0, bx1, by1 = self._moved_box
            x0, y0, x1, y1 = min(x0, bx0), min(y0, by0), max(x1, bx1), max(y1, by1)
        self._moved_box = (x0, y0, x1, y1)

    def _work_copy(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        if self._input != (width, height):
            scale = min(1.0, WORK_WIDTH / max(width, 1))
            self._input = (width, height)
            self._size = (max(1, round(width * scale)), max(1, round(height * scale)))
            self._area = None
        work_w, work_h = self._size
        small = image if (work_w, work_h) == (width, height) else cv2.resize(
            image, (work_w, work_h), interpolation=cv2.INTER_AREA
        )
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        # Blur first: sensor noise and compression speckle stay well under the threshold.
        return cv2.GaussianBlur(small, (5, 5), 0)

    def _build_area(self) -> np.ndarray:
        """255 where moving pixels count: watched places grown by the margin, less the mask."""
        work_w, work_h = self._size
        scale = np.array([work_w, work_h], dtype=np.float64)
        area: np.ndarray
        if self._zones is None:
            area = np.full((work_h, work_w), 255, np.uint8)
        else:
            area = np.zeros((work_h, work_w), np.uint8)
            for zone in self._zones:
                cv2.fillPoly(area, [np.round(zone * scale).astype(np.int32)], 255)
            for line in self._lines:
                cv2.polylines(area, [np.round(line * scale).astype(np.int32)], False, 255, 1)
            radius = int(round(self._settings.margin * work_h))
            if radius > 0:
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
                area = cv2.dilate(area, kernel)
        unmasked = np.full((work_h, work_w), 255, np.uint8)
        for polygon in self._mask:
            points = [np.round(polygon * scale).astype(np.int32)]
            cv2.fillPoly(area, points, 0)
            cv2.fillPoly(unmasked, points, 0)
        self._unmasked = unmasked if self._mask else None
        self._min_pixels = max(1, int(math.ceil(self._settings.min_area * work_w * work_h)))
        return area

    def status(self) -> dict[str, object]:
        return {
            "frames_checked_total": self.frames_total,
            "moving_frames_total": self.moving_frames_total,
            "moving_share": round(self.last_share, 4),
        }


__all__ = ["MotionCheck", "relative"]
