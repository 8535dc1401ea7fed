"""A real HTTP MJPEG camera on a loopback port, for the source and secret-scan tests."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from support import free_port


class MjpegServer:
    """multipart/x-mixed-replace JPEGs at ~20 fps, like an IP camera's /video.mjpg."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> MjpegServer:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while not getattr(self.server, "closing", False):
                        image = np.full((120, 160, 3), 40, np.uint8)
                        cv2.putText(image, str(index), (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 255, 0), 3)
                        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        index += 1
                        time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._server.allow_reuse_address = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.closing = True  # type: ignore[attr-defined]
            self._server.shutdown()
            self._server.server_close()
            self._server = None
