"""The container's health probe (deploy/healthcheck.py) against a real running streamer:
healthy while the monitor answers, unhealthy once the process is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, free_port, make_video, wait_for, write_config

pytestmark = pytest.mark.integration

PROBE = ROOT / "deploy" / "healthcheck.py"



def _probe(port: int, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STREAMER_MONITOR_PORT=str(port))
    env.pop("MONITOR_TOKEN", None)
    if token:
        env["MONITOR_TOKEN"] = token
    return subprocess.run([sys.executable, str(PROBE)], env=env, capture_output=True,
                          text=True, timeout=30)


def test_probe_follows_the_running_process(tmp_path: Path) -> None:
    port = free_port()
    video = make_video(tmp_path / "clip.mp4", frames=300, fps=10)
    (tmp_path / "none.jsonl").write_text("")
    config = write_config(tmp_path / "site.yaml", {
        "camera": {"id": "gate", "source": str(video), "realtime": True},
        "models": [{"id": "people", "kind": "replay", "path": str(tmp_path / "none.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        # Reachable from outside, so a token: the probe must send it.
        "monitor": {"bind": f"0.0.0.0:{port}", "token": "s3cret-token-for-probe"},
    })
    process = subprocess.Popen([sys.executable, "-m", "streamer", "run", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = wait_for(lambda: (r := _probe(port, "s3cret-token-for-probe")).returncode == 0 and r, 30,
                          "the probe saying healthy")
        assert "healthy: camera 'gate'" in result.stdout
        refused = _probe(port)
        assert refused.returncode == 1 and "401" in refused.stdout
    finally:
        process.terminate()
        process.wait(timeout=30)
    gone = _probe(port, "s3cret-token-for-probe")
    assert gone.returncode == 1
    assert gone.stdout.startswith("unhealthy:")
