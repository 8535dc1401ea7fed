"""``${NAME:-default}`` whose default holds another reference expands as written."""

from __future__ import annotations

import pytest

from streamer.config import parse_config
from streamer.errors import ConfigError

TEXT = """
camera: {source: "${CAMERA_URL:-rtsp://viewer:${CAM_PASSWORD:-}@192.168.1.31/stream1}"}
models: [{id: people, kind: hog}]
"""


@pytest.mark.parametrize("env, source", [
    ({"CAMERA_URL": "rtsp://cam-2/s"}, "rtsp://cam-2/s"),  # was `rtsp://cam-2/s@192.168.1.31/stream1}`
    ({"CAM_PASSWORD": "pw"}, "rtsp://viewer:pw@192.168.1.31/stream1"),
    ({}, "rtsp://viewer:@192.168.1.31/stream1"),
])
def test_nested_defaults(env: dict[str, str], source: str) -> None:
    assert parse_config(TEXT, env=env).camera.source == source


def test_an_inner_reference_without_default_is_needed_only_when_used() -> None:
    text = TEXT.replace("${CAM_PASSWORD:-}", "${CAM_PASSWORD}")
    assert parse_config(text, env={"CAMERA_URL": "rtsp://c/s"}).camera.source == "rtsp://c/s"
    with pytest.raises(ConfigError, match=r"<config>:2 camera.source: environment variable "
                                          r"CAM_PASSWORD is not set"):
        parse_config(text, env={})


def test_text_that_only_looks_like_a_reference_stays() -> None:
    text = TEXT.replace("${CAMERA_URL:-rtsp://viewer:${CAM_PASSWORD:-}@192.168.1.31/stream1}",
                        "rtsp://h/a${b}c ${ x ${9} ${UNCLOSED:-x")
    assert parse_config(text, env={"b": "B"}).camera.source == "rtsp://h/aBc ${ x ${9} ${UNCLOSED:-x"
