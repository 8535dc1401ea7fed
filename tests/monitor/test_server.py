""""This view is right" from the monitor (issue 27): a real runtime on real footage paced
as a camera (the tamper checks are on by default for it), real HTTP, the reference view's
files beside the outbox. The write follows the rules of every monitor write: the token,
the page's own Origin, a JSON body."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from conftest import running, wait_for, write_config
from review_helpers import TOKEN, get, post
from streamer.source.view import reference_path
from tamper_footage import play, vtest, write_clip

pytestmark = pytest.mark.integration


def test_this_view_is_right_takes_a_new_reference_and_foreign_writes_are_refused(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "plaza.mp4", play(vtest(), 8.0), 10.0)
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "dock-3", "source": str(clip), "realtime": True, "loop": True,
                   "tamper": {"every_s": 0.5}},
        "models": [{"id": "people", "kind": "replay", "path": str(tmp_path / "none.jsonl")}],
        "zones": [{"id": "lane", "polygon": [[0.1, 0.5], [0.6, 0.5], [0.7, 0.95], [0.05, 0.95]]}],
        "sinks": [{"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"bind": "127.0.0.1:0", "token": TOKEN},
    })
    meta_path = reference_path(tmp_path / "outbox.db", "dock-3").with_suffix(".json")
    with running(config, start_s=30, stop_s=30) as (runtime, url):
        first = wait_for(lambda: (get(url, "/api/status")["camera"]["view"] or {}).get("reference"), 30,
                         "the first reference view")
        assert first["reason"] == "first run"
        path = "/api/camera/reference"
        refused = [
            post(url, path, {}, token=None),
            post(url, path, {}, token="wrong-token-0123456789"),
            post(url, path, {}, origin="https://evil.example"),
            httpx.post(url + path + f"?token={TOKEN}", data={"by": "x"}, timeout=10),  # a cross-site form
        ]
        assert [r.status_code for r in refused] == [401, 401, 403, 415]
        assert json.loads(meta_path.read_text())["reason"] == "first run"
        answer = post(url, path, {"by": "Ana"})
        assert answer.status_code == 202, answer.text
        wait_for(lambda: get(url, "/api/status")["camera"]["view"]["reference"]["reason"]
                 == "the operator said the view is right", 10, "the new reference view")
        assert json.loads(meta_path.read_text())["reason"] == "the operator said the view is right"
        assert get(url, "/api/status")["camera"]["state"] == "live"
