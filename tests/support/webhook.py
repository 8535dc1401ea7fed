"""A webhook endpoint for tests: a real HTTP server on 127.0.0.1 that records what it got."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        owner = self.server.owner  # type: ignore[attr-defined]
        code = owner.codes.pop(0) if owner.codes else 200
        owner.received.append((dict(self.headers), body, code))
        self.send_response(code)
        if 300 <= code < 400 and owner.location:
            self.send_header("Location", owner.location)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"no")


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Any]:
    """A webhook endpoint on 127.0.0.1 recording (headers, body, status) of each POST and
    answering the statuses queued in ``codes`` (then 200); a 3xx carries ``location``."""
    class Owner:
        received: list[tuple[dict[str, str], bytes, int]] = []
        codes: list[int] = []
        location: str | None = None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.owner = Owner()  # type: ignore[attr-defined]
    Owner.base = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    Owner.url = f"{Owner.base}/hook"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Owner
    finally:
        httpd.shutdown()
        httpd.server_close()
