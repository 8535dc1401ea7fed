"""How long an upload and an event POST take over a slow uplink: the basis of the default
timeouts (docs/delivery.md, "Where we differ from Roboflow's reference client").

A throttled TCP proxy on 127.0.0.1 forwards client->server bytes at ``--kbit`` kbit/s to the
local Vision Events server (tests/support/vision_events_server.py). Through it: one 1080p JPEG
(q85, a sample photo shipped with matplotlib) upload, one event POST, one batch of 100
events with 20 boxes each, and the same upload again under the old 10 s bound.

    python benchmarks/uplink_timeouts.py [--kbit 256]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import matplotlib
from publish import add_flag, run

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import make_record  # noqa: E402
from support.vision_events_server import VisionEventsServer  # noqa: E402

from streamer.imaging import encode_jpeg  # noqa: E402

KEY = "bench-key"


def _pipe(src: socket.socket, dst: socket.socket, bits_per_s: int) -> None:
    try:
        while data := src.recv(4096):
            dst.sendall(data)
            if bits_per_s:
                time.sleep(len(data) * 8 / bits_per_s)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _proxy(listener: socket.socket, target: tuple[str, int], bits_per_s: int) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(target)
        threading.Thread(target=_pipe, args=(client, upstream, bits_per_s), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client, 0), daemon=True).start()


def _events(n: int, source_id: str) -> list[dict[str, object]]:
    out = []
    for _ in range(n):
        payload = json.loads(json.dumps(make_record().payload))
        payload["useCaseId"] = "site-safety"
        payload["images"][0]["sourceId"] = source_id
        payload["images"][0]["objectDetections"] *= 20
        out.append(payload)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kbit", type=int, default=256, help="uplink speed, kbit/s")
    add_flag(parser)
    args = parser.parse_args()
    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    jpeg = encode_jpeg(cv2.resize(cv2.imread(str(photo)), (1920, 1080)))
    auth = {"Authorization": f"Bearer {KEY}"}
    with VisionEventsServer(api_key=KEY) as server:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        threading.Thread(target=_proxy, daemon=True,
                         args=(listener, ("127.0.0.1", server.port), args.kbit * 1000)).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with httpx.Client(timeout=300) as client:
            start = time.monotonic()
            answer = client.post(f"{url}/vision-events/upload", headers=auth,
                                 files={"file": ("a.jpg", jpeg, "image/jpeg")})
            print(f"upload {len(jpeg) // 1024} KiB: {time.monotonic() - start:.1f} s")
            source_id = answer.json()["sourceId"]
            for n in (1, 100):
                events = _events(n, source_id)
                body = json.dumps({"events": events} if n > 1 else events[0]).encode()
                path = "/vision-events/batch" if n > 1 else "/vision-events"
                start = time.monotonic()
                client.post(url + path, content=body,
                            headers={**auth, "Content-Type": "application/json"})
                print(f"create {n} event(s), {len(body) // 1024} KiB: "
                      f"{time.monotonic() - start:.1f} s")
            start = time.monotonic()
            try:
                client.post(f"{url}/vision-events/upload", headers=auth, timeout=10,
                            files={"file": ("a.jpg", jpeg, "image/jpeg")})
                print(f"upload under a 10 s bound: ok in {time.monotonic() - start:.1f} s")
            except httpx.TimeoutException as exc:
                print(f"upload under a 10 s bound: {type(exc).__name__} after "
                      f"{time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    raise SystemExit(run(main, "uplink-timeouts", "Uploads and event POSTs over a slow uplink"))
