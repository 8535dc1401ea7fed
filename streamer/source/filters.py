"""Small steps every captured picture goes through, the same for files and cameras."""

from __future__ import annotations

import cv2
import numpy as np

# Mean absolute difference (grey levels, 0..255) between 32x18 thumbnails below which two
# pictures count as the same: sensor noise and re-encoding stay under it, a person moving
# across the frame does not.
FROZEN_DIFF = 1.5


class FpsCap:
    """The ``fps`` cap: keeps a frame only if ``1/fps`` s of frame time passed since the
    last kept one (None or 0: keep every frame)."""

    def __init__(self, fps: float | None) -> None:
        self._min_gap_s = 1.0 / fps if fps else 0.0
        self._last_kept_t = -1e18

    def keep(self, t_s: float) -> bool:
        if self._min_gap_s and t_s - self._last_kept_t < self._min_gap_s - 1e-9:
            return False
        self._last_kept_t = t_s
        return True


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at ``width`` x ``height`` (0: as it is). Zones and lines were laid out for
    one size, and a camera may come back from a reboot at another one."""
    if width and (image.shape[1], image.shape[0]) != (width, height):
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.asarray(image)


class FrozenDetector:
    """Tells a frozen picture from a still scene by a cheap thumbnail difference.

    The reference thumbnail is kept until the picture moves away from it, so a slow drift
    (clouds, daylight) also counts as change once it adds up.
    """

    def __init__(self, frozen_s: float, threshold: float = FROZEN_DIFF) -> None:
        self.frozen_s = frozen_s
        self.threshold = threshold
        self._reference: np.ndarray | None = None
        self._since = 0.0

    def update(self, image: np.ndarray, t_s: float) -> bool:
        """``True`` once the picture has not changed for ``frozen_s`` seconds."""
        thumb = cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA).astype(np.int16)
        if (
            self._reference is None
            or float(np.abs(thumb - self._reference).mean()) > self.threshold
        ):
            self._reference = thumb
            self._since = t_s
            return False
        return t_s - self._since >= self.frozen_s

    def reset(self) -> None:
        self._reference = None
