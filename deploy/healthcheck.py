"""Container/systemd health probe: is this camera's (or box's) streamer alive and seeing frames?

Asks the monitor's ``/api/status`` on 127.0.0.1 from inside the container (so the monitor
can stay bound to loopback), with ``MONITOR_TOKEN`` as a Bearer token when one is set.
Exit 0: healthy. Exit 1: no answer, an error status, or no frame for longer than
``STREAMER_HEALTH_MAX_FRAME_AGE_S`` (default 120) seconds. A box (several cameras) is
unhealthy only when none of its cameras has had a frame that recently: one camera's outage
is that camera's health event, not a reason to restart the others. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("STREAMER_MONITOR_PORT", "8080")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status")
    token = os.environ.get("MONITOR_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status = json.load(answer)
    except Exception as exc:  # any failure to get a status is "unhealthy"
        print(f"unhealthy: /api/status on port {port}: {type(exc).__name__}: {exc}")
        return 1
    limit = float(os.environ.get("STREAMER_HEALTH_MAX_FRAME_AGE_S", "120"))
    if isinstance(status, dict) and isinstance(status.get("cameras"), list):
        return _box(status["cameras"], limit)
    camera = status.get("camera", {}) if isinstance(status, dict) else {}
    age = camera.get("last_frame_age_s")
    if age is not None and age > limit:
        print(f"unhealthy: camera {camera.get('id')!r} last frame {age:.0f} s ago "
              f"({camera.get('state')})")
        return 1
    print(f"healthy: camera {camera.get('id')!r} {camera.get('state')}, "
          f"{camera.get('fps_out')} fps")
    return 0


def _box(cameras: list[dict], limit: float) -> int:
    seeing = [c for c in cameras if c.get("last_frame_age_s") is not None
              and c["last_frame_age_s"] <= limit]
    shown = ", ".join(f"{c.get('id')!r} {c.get('state')}" for c in cameras)
    if not seeing:
        print(f"unhealthy: no camera of the box had a frame in {limit:.0f} s ({shown})")
        return 1
    print(f"healthy: {len(seeing)} of {len(cameras)} cameras seeing frames ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
