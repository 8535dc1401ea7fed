"""Is the camera still looking at what its rules were drawn on? (issue 27)

A camera that was bumped, covered, put out of focus or left in the dark keeps sending
frames: it is ``live`` to the capture, and its rules see nobody. This module compares the
live picture with a *reference view* (the picture the places were drawn on) and says
which of three things went wrong, with the figure it measured:

- ``moved``: a global shift/rotation of the scene, estimated from ORB features matched
  between the reference and the live picture and fitted with RANSAC, so people walking
  through (whose features move on their own) are outliers, not the estimate.
- ``obstructed``: most of the picture lost the texture it had in the reference (a pallet,
  a hand, a cloth over the lens), or went dark unless the reference is a night view.
- ``blurred``: the picture's sharpness fell far below the reference's.

Everything here is measured on a small grey copy of the frame, a few times a minute, on
the view watch's thread (:mod:`streamer.source.view`), never on the frame loop. Each
condition has its own hold time, so a truck passing in front of the lens or a light
switched off for a second does not fire; the judge (:class:`ViewJudge`) is a pure
function of frame time and pictures, so tests drive it frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from streamer.health_state import HealthState
from streamer.schema.sections import TamperConfig

# The grey copy every measure works on: wide enough for ORB to find a few hundred corners
# on a real scene, small enough that one check costs a few milliseconds.
WORK_WIDTH = 320
# Sharpness is measured on a larger copy: a blur of a few pixels at 768 px mostly
# disappears at 320 px, where the downscale itself smooths the picture.
SHARP_WIDTH = 480
GRID = (8, 6)  # cells across, down, for the covered fraction
# A cell whose grey level spread (std) is under this is flat: a cover, a wall, the sky.
FLAT_STD = 6.0
NIGHT_FLAT_STD = 1.5  # the same in a night view, whose contrast is a fraction of a day's
# ... and one brighter on average than this is not dark (grey levels 0..255).
DARK_MEAN = 30.0
MIN_FEATURES = 40  # fewer corners in the reference or the live picture: no shift estimate
MIN_INLIERS = 15  # fewer RANSAC inliers: the view does not match the reference at all
# "Another view altogether" only where both pictures are rich in corners: a plain scene
# with a changing clock overlay must not read as turned away.
MIN_FEATURES_UNMATCHED = 120


# --- the reference view -----------------------------------------------------------------


@dataclass(frozen=True)
class ViewPrint:
    """What the judge keeps of one picture: its grey copy, its ORB features, and the
    per-cell texture and brightness the covered fraction compares against.

    ``scale`` maps grey-copy pixels to frame pixels (shifts are reported in frame pixels).
    """

    grey: np.ndarray
    keypoints: np.ndarray  # (n, 2) float32, grey-copy pixels
    descriptors: np.ndarray | None
    cell_std: np.ndarray  # (rows, cols)
    cell_mean: np.ndarray
    sharpness: float
    brightness: float
    scale: float
    width: int
    height: int

    @property
    def night(self) -> bool:
        """A dark reference: darkness is this camera's normal view, not an obstruction."""
        return self.brightness < DARK_MEAN * 1.5


# Four pyramid levels cover the zoom a knock can cause; eight (the default) cost twice as much.
_ORB = cv2.ORB.create(nfeatures=400, nlevels=4, fastThreshold=12)


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _resized(grey: np.ndarray, width: int) -> np.ndarray:
    if grey.shape[1] <= width:
        return grey
    height = max(1, round(grey.shape[0] * width / grey.shape[1]))
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)


def sharpness(grey: np.ndarray) -> float:
    """Mean absolute Laplacian of the picture at ``SHARP_WIDTH``: edges and fine texture.

    Its ratio to the reference's is the blur figure; a defocused lens loses most of it.
    """
    small = _resized(grey, SHARP_WIDTH)
    return float(cv2.mean(cv2.convertScaleAbs(cv2.Laplacian(small, cv2.CV_16S, ksize=3)))[0])


def _cells(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each grid cell's mean and spread (std) of grey levels: two area resizes of the
    picture and of its square, not a Python loop over cells (the GIL is the frame loop's)."""
    cols, rows = GRID
    f = grey.astype(np.float32)
    mean = cv2.resize(f, (cols, rows), interpolation=cv2.INTER_AREA)
    square = cv2.resize(f * f, (cols, rows), interpolation=cv2.INTER_AREA)
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return std, mean


def view_print(image: np.ndarray) -> ViewPrint:
    """The measures of one picture (BGR or grey, any size)."""
    grey_full = _resized(_grey(image), SHARP_WIDTH)
    grey = _resized(grey_full, WORK_WIDTH)
    keypoints, descriptors = _ORB.detectAndCompute(grey, None)
    points = np.array([k.pt for k in keypoints], np.float32).reshape(-1, 2)
    cell_std, cell_mean = _cells(grey)
    return ViewPrint(
        grey=grey, keypoints=points, descriptors=descriptors, cell_std=cell_std, cell_mean=cell_mean,
        sharpness=sharpness(grey_full), brightness=float(grey.mean()),
        scale=image.shape[1] / grey.shape[1], width=image.shape[1], height=image.shape[0],
    )


# --- one comparison -----------------------------------------------------------------------


@dataclass(frozen=True)
class ViewCheck:
    """One comparison of the live picture with the reference (JSON-friendly via ``figures``).

    Attributes:
        shift_px: how far the frame's centre moved, in frame pixels; None when no shift
            could be estimated (too few features: covered, dark, blurred, or another view).
        dx_px / dy_px: the centre's move along x and y (frame pixels).
        rotation_deg: the scene's rotation, degrees.
        matched: RANSAC inliers / features matched; 0..1 (None: too few features to try).
        covered: share of the reference's textured cells that are now flat or dark, 0..1.
        sharpness_ratio: live sharpness / reference sharpness.
        brightness: mean grey level of the live picture, 0..255.
        transform: 2x3 matrix mapping reference frame pixels to live frame pixels, or None.
        features_reference / features_live: ORB corners found in each picture.
    """

    shift_px: float | None
    dx_px: float | None
    dy_px: float | None
    rotation_deg: float | None
    matched: float | None
    covered: float
    sharpness_ratio: float
    brightness: float
    transform: np.ndarray | None = field(default=None, compare=False, repr=False)
    features_reference: int = 0
    features_live: int = 0

    def figures(self) -> dict[str, float | None]:
        def r(value: float | None, digits: int) -> float | None:
            return None if value is None else round(float(value), digits)

        return {
            "shift_px": r(self.shift_px, 1), "dx_px": r(self.dx_px, 1), "dy_px": r(self.dy_px, 1),
            "rotation_deg": r(self.rotation_deg, 2), "matched": r(self.matched, 2),
            "covered": r(self.covered, 2), "sharpness_ratio": r(self.sharpness_ratio, 2),
            "brightness": r(self.brightness, 1),
        }


_MATCHER = cv2.BFMatcher(cv2.NORM_HAMMING)


def _estimate(reference: ViewPrint, live: ViewPrint) -> tuple[np.ndarray | None, float | None]:
    """A similarity transform (rotation, scale, shift) from reference to live grey-copy
    pixels, fitted with RANSAC on ratio-tested ORB matches, and the inlier share."""
    if (
        reference.descriptors is None or live.descriptors is None
        or len(reference.keypoints) < MIN_FEATURES or len(live.keypoints) < MIN_FEATURES
    ):
        return None, None
    pairs = _MATCHER.knnMatch(reference.descriptors, live.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, 0.0
    src = reference.keypoints[[m.queryIdx for m in good]]
    dst = live.keypoints[[m.trainIdx for m in good]]
    matrix, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=2000, confidence=0.995
    )
    if matrix is None or inliers is None:
        return None, 0.0
    count = int(inliers.sum())
    share = count / len(good)
    if count < MIN_INLIERS:
        return None, share
    return matrix, share


def compare(reference: ViewPrint, live: ViewPrint) -> ViewCheck:
    """Compare a live picture with the reference (both from :func:`view_print`)."""
    matrix, matched = _estimate(reference, live)
    shift = dx = dy = rotation = None
    transform = None
    if matrix is not None:
        # To frame pixels: the linear part is scale-free, the offset scales.
        s_ref, s_live = reference.scale, live.scale
        linear = matrix[:, :2] * (s_live / s_ref)
        offset = matrix[:, 2] * s_live
        transform = np.hstack([linear, offset[:, None]]).astype(np.float64)
        centre = np.array([reference.width / 2, reference.height / 2])
        moved_to = linear @ centre + offset
        dx, dy = (float(v) for v in moved_to - centre)
        shift = float(np.hypot(dx, dy))
        rotation = float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))
    # Covered: cells that had texture in the reference and are now flat, or (day view)
    # dark. Cells flat in the reference (sky, a bare wall) tell nothing either way. A night
    # view has little contrast anywhere: there, texture is judged against its own levels.
    night = reference.night
    floor = NIGHT_FLAT_STD if night else FLAT_STD
    textured = reference.cell_std >= floor * 1.5
    covered = 0.0
    if textured.any():
        flat = live.cell_std < np.maximum(floor, reference.cell_std * 0.25)
        dark = (live.cell_mean < DARK_MEAN) & ~night
        covered = float(((flat | dark) & textured).sum() / textured.sum())
    ratio = live.sharpness / reference.sharpness if reference.sharpness > 0 else 1.0
    return ViewCheck(shift, dx, dy, rotation, matched, covered, ratio, live.brightness, transform,
                     len(reference.keypoints), len(live.keypoints))


# --- holding a condition for its time ------------------------------------------------


class Hold:
    """A condition that counts once it held for ``hold_s`` of frame time, and ends once
    it has been absent for ``clear_s`` (a single good check in a bad spell clears nothing)."""

    def __init__(self, hold_s: float, clear_s: float) -> None:
        self.hold_s = hold_s
        self.clear_s = clear_s
        self.on = False
        self._since: float | None = None  # first check of the current spell (true or false)

    def update(self, t_s: float, seen: bool) -> bool:
        if seen != self.on:
            if self._since is None:
                self._since = t_s
            if t_s - self._since >= (self.hold_s if seen else self.clear_s):
                self.on = seen
                self._since = None
        else:
            self._since = None
        return self.on


@dataclass(frozen=True)
class ViewVerdict:
    """The judge's answer after one check: the view state (None: the view is right)."""

    state: HealthState | None
    reason: str
    figures: dict[str, float | None]
    check: ViewCheck


class ViewJudge:
    """Turns checks into one view state, each condition with its own hold time.

    Pure: time comes from the frames (``t_s``), so a file gives the same answer on any
    machine. Priority when several hold: obstructed (nothing else can be measured), then
    blurred (features on a blurred picture match badly), then moved.
    """

    def __init__(self, settings: TamperConfig, reference: ViewPrint) -> None:
        self.settings = settings
        self.reference = reference
        self._moved = Hold(settings.moved_hold_s, settings.every_s * 1.5)
        self._obstructed = Hold(settings.obstructed_hold_s, settings.every_s * 1.5)
        self._blurred = Hold(settings.blurred_hold_s, settings.every_s * 1.5)
        self.last: ViewVerdict | None = None

    def update(self, t_s: float, image: np.ndarray) -> ViewVerdict:
        s = self.settings
        check = compare(self.reference, view_print(image))
        limit_px = s.moved_fraction * self.reference.width
        obstructed = self._obstructed.update(t_s, check.covered >= s.obstructed_fraction)
        # A blurred picture is not judged while covered: a cover is also smooth.
        blurred = self._blurred.update(
            t_s, not obstructed and check.covered < s.obstructed_fraction
            and check.sharpness_ratio <= s.blurred_ratio,
        )
        unmatched = (
            check.shift_px is None and check.matched is not None and check.covered < 0.3
            and check.sharpness_ratio > s.blurred_ratio
            and min(check.features_reference, check.features_live) >= MIN_FEATURES_UNMATCHED
        )
        moved = self._moved.update(
            t_s, (check.shift_px is not None and check.shift_px >= limit_px) or unmatched
        )
        figures = check.figures()
        if obstructed:
            state = HealthState.OBSTRUCTED
            what = "dark" if check.brightness < DARK_MEAN and not self.reference.night else "covered"
            reason = f"{check.covered:.0%} of the picture {what} (brightness {check.brightness:.0f}/255)"
        elif blurred:
            state = HealthState.BLURRED
            reason = f"sharpness at {check.sharpness_ratio:.0%} of the reference view's"
        elif moved:
            state = HealthState.MOVED
            if check.shift_px is None:
                reason = "the view no longer matches the reference view"
            else:
                reason = (
                    f"the view moved {check.shift_px:.0f} px (dx {check.dx_px:+.0f}, dy "
                    f"{check.dy_px:+.0f}, rotation {check.rotation_deg:+.1f} deg) from the reference view"
                )
        else:
            state, reason = None, ""
        self.last = ViewVerdict(state, reason, figures, check)
        return self.last
