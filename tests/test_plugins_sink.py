"""A sink from one file, added through the registry, runs end to end (issue 12).

The throwaway sink lives in a file written to tmp_path, outside the package: its config
model and its factory side by side, registered with one call, then a real run of a small
video with a replay detector delivers the zone event to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import edit_config, read_jsonl, run_in_process, scene, walker, write_module

from streamer.config import load_config
from streamer.config.models import config_secrets
from streamer.errors import ConfigError
from streamer.plugins import PLUGINS

ECHO_SINK = '''
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from streamer.events.record import EventRecord
from streamer.schema.bases import SinkBase
from streamer.sinks.base import Delivered, Outcome, Sink, SinkContext


class EchoSinkConfig(SinkBase):
    type: Literal["echo"]
    id: str | None = None
    path: Path
    token: SecretStr | None = None

    def build(self, context: SinkContext) -> "EchoSink":
        return EchoSink(self)


class EchoSink(Sink):
    """Appends each payload it receives to a file, one JSON line each."""

    def __init__(self, config: EchoSinkConfig) -> None:
        self.name = config.name
        self._path = config.path

    def send(self, batch: list[EventRecord]) -> dict[str, Outcome]:
        with open(self._path, "a", encoding="utf-8") as handle:
            for record in batch:
                handle.write(json.dumps(record.payload) + "\\n")
        return {record.event_id: Delivered() for record in batch}
'''


@pytest.fixture
def echo_config(tmp_path: Path, video: Path) -> Path:
    rows = walker(range(0, 40), x_start=200, x_step=10, y1=100)
    sink = {"type": "echo", "path": str(tmp_path / "echo.jsonl"), "token": "echo-secret-token-1"}
    return edit_config(scene(tmp_path, video, rows, [sink]), monitor={"enabled": False})


def test_a_sink_from_one_file_runs_end_to_end(tmp_path: Path, echo_config: Path) -> None:
    module = write_module(tmp_path / "echo_sink.py", ECHO_SINK)
    plugins = PLUGINS.adding(sinks=(module.EchoSinkConfig,))

    summary = run_in_process(echo_config, plugins=plugins)

    assert summary.delivered == {"echo": 1}
    (event,) = read_jsonl(tmp_path / "echo.jsonl")
    assert event["eventType"] == "safety_alert"
    assert event["customMetadata"]["rule_id"] == "lane-intrusion"
    # Its secret is found from its SecretStr field, with no list to extend.
    config = load_config(echo_config, plugins=plugins)
    assert "echo-secret-token-1" in config_secrets(config)


def test_without_its_registration_the_sink_type_is_a_config_error(echo_config: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(echo_config)
    message = str(caught.value)
    assert "sinks[0]" in message and "'echo'" in message and "echo-secret-token-1" not in message
