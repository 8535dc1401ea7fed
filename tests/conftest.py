"""The fixtures every test gets: the fast tier's guard, a restored environment, a small video
and the RTSP test clips. Helpers that tests import live in the ``support`` package."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import make_video


@pytest.fixture(autouse=True)
def _fast_tier_stays_fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test outside the integration and system tiers may not start a process or connect a
    socket: it fails, naming the mark its module needs, so the fast tier cannot drift."""
    if any(request.node.get_closest_marker(tier) for tier in ("integration", "system")):
        return

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"{request.node.nodeid} {what}: a fast-tier test may not; "
                                 "give its module pytestmark = pytest.mark.integration")
        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a subprocess"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connects a socket"))


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """640x360, 10 fps, 60 frames: frame time = index / 10."""
    return make_video(tmp_path / "clip.mp4")


# RTSP test clips (made once per module with Debian's ffmpeg; see support/rtsp.py).
@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.rtsp import make_clip

    return make_clip(tmp_path_factory.mktemp("rtsp") / "moving.h264")


@pytest.fixture(scope="module")
def frozen_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.rtsp import make_clip

    return make_clip(tmp_path_factory.mktemp("rtsp") / "frozen.h264", frozen=True)
