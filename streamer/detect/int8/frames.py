"""Calibration frames: spread over a video file or a folder of images, or the first ones of
a live camera; and what identifies a calibration set for the cache without reading it."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import cv2
import numpy as np

from streamer.detect.fp16 import file_digest
from streamer.errors import ModelError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
LIVE_READ_TIMEOUT_S = 30.0

def is_live(source: int | str | Path) -> bool:
    """A camera index or a URL: no end, no seeking, so calibration takes its first frames."""
    if isinstance(source, int):
        return True
    text = str(source)
    return text.isdigit() or "://" in text


def read_frames(source: int | str | Path, count: int, where: str) -> list[np.ndarray]:
    """``count`` BGR frames spread over a video file or a folder of images (evenly spaced),
    or the first ``count`` of a live source.

    Raises:
        ModelError: the source cannot be opened or yields no frame (``where`` names it).
    """
    if not is_live(source):
        path = Path(str(source))  # a path here: is_live took the ints
        if path.is_dir():
            return _read_images(path, count, where)
        if not path.is_file():
            raise ModelError(f"{where}: no such file or folder: {path}")
    text = str(source)
    capture = cv2.VideoCapture(int(text) if text.isdigit() else text)
    try:
        if not capture.isOpened():
            raise ModelError(f"{where}: cannot open {source} as a video")
        if is_live(source):
            frames = _read_first(capture, count)
        else:
            total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            frames = _read_spread(capture, count, total)
    finally:
        capture.release()
    if not frames:
        raise ModelError(f"{where}: {source} gave no frame (not a readable video?)")
    return frames


def _read_images(folder: Path, count: int, where: str) -> list[np.ndarray]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelError(f"{where}: {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    frames = []
    for index in _spread(len(files), count):
        image = cv2.imread(str(files[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise ModelError(f"{where}: {files[index]} is not a readable image")
        frames.append(image)
    return frames


def _spread(total: int, count: int) -> list[int]:
    if total <= count:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, count)})


def _read_spread(capture: cv2.VideoCapture, count: int, total: int) -> list[np.ndarray]:
    """Sequential grabs (exact on every codec) up to a few thousand frames, seeks beyond."""
    wanted = _spread(total, count) if total > 0 else list(range(count))
    frames: list[np.ndarray] = []
    if total > 5000:
        for index in wanted:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, image = capture.read()
            if ok:
                frames.append(image)
        return frames
    targets = set(wanted)
    for index in range(wanted[-1] + 1 if wanted else 0):
        if not capture.grab():
            break
        if index in targets:
            ok, image = capture.retrieve()
            if ok:
                frames.append(image)
    return frames


def _read_first(capture: cv2.VideoCapture, count: int) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    deadline = time.monotonic() + LIVE_READ_TIMEOUT_S
    while len(frames) < count and time.monotonic() < deadline:
        ok, image = capture.read()
        if ok:
            frames.append(image)
    return frames


def calibration_digest(source: int | str | Path) -> str:
    """What identifies a calibration set without reading its frames: the bytes of a file or
    of a folder's images; a live source's address (its frames differ at every start)."""
    digest = hashlib.sha256()
    if is_live(source):
        digest.update(f"live:{source}".encode())
        return digest.hexdigest()
    path = Path(str(source))  # a path here: is_live took the ints
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if path.is_dir() else [path]
    )
    for file in files:
        digest.update(file.name.encode())
        try:
            digest.update(file_digest(file).encode())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()



def shown(source: int | str | Path) -> str:
    """A live source's address may carry a password: show only its scheme and host."""
    text = str(source)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/…"
    return text
