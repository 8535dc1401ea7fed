"""Config checks shared by every section (issue 28): no URL or host name may carry a
control character; `validate` says where in one line and exits 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import run_cli, write_config

pytestmark = pytest.mark.integration


def site(tmp_path: Path, camera_source: str = "rtsp://cam/stream1", sink: dict[str, Any] | None = None) -> Path:
    return write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": camera_source},
        "models": [{"id": "people", "kind": "hog"}],
        "sinks": [sink or {"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
    })


@pytest.mark.parametrize(("where", "char"), [
    ("camera.source", "\r\n"), ("camera.source", "\n"), ("camera.source", "\x00"), ("camera.source", "\t"),
    ("camera.source", "\x7f"), ("sinks[0].url", "\r\n"), ("sinks[0].api_url", "\n"), ("sinks[0].host", "\r"),
])
def test_control_characters_in_a_url_are_refused_at_validate(tmp_path: Path, where: str, char: str) -> None:
    bad = f"rtsp://viewer:pw-4242@cam/stream1{char}Injected: yes"
    if where == "camera.source":
        config = site(tmp_path, camera_source=bad)
    elif where == "sinks[0].url":
        config = site(tmp_path, sink={"type": "webhook", "url": f"https://hooks.example/x{char}Injected: yes"})
    elif where == "sinks[0].api_url":
        config = site(tmp_path, sink={"type": "vision_events", "api_url": f"https://api.example{char}x",
                                      "api_key": "k", "use_case": "u"})
    else:
        config = site(tmp_path, sink={"type": "mqtt", "host": f"broker{char}.example", "topic": "t"})
    done = run_cli("validate", str(config))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "site.yaml:" in lines[0] and where in lines[0] and ("control character" in lines[0] or "NUL" in lines[0]), lines[0]
    assert "pw-4242" not in done.stderr + done.stdout
