"""A real RTSP server for the capture tests, run with the system ``/usr/bin/python3``.

Modes:
  ``serve``  Debian's GStreamer RTSP server replays an H.264 Annex-B clip (made with
             ffmpeg, one access unit per AUD) for ever, with continuous timestamps, so a
             short clip looks like an endless camera (docs/architecture.md, "Measured": an appsrc fed from memory
             loops seamlessly; ``filesrc`` would serve the file once).
  ``silent`` answers RTSP (OPTIONS, DESCRIBE, SETUP, PLAY) but never sends a packet: the
             camera whose server is up and whose encoder is not. Plain sockets, no gi.

Prints ``ready`` on stdout once it listens. The tests kill, SIGSTOP/SIGCONT and restart
it on the same port.

``--start N`` begins every client at access unit N (a keyframe: a multiple of the clip's
GOP), so cameras served from one clip show different moments.

Usage: rtsp_server.py --port N [--clip FILE] [--fps 25] [--start 0] [--mode serve|silent]
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading

START_CODE_AUD = b"\x00\x00\x00\x01\x09"


def split_access_units(data: bytes) -> list[bytes]:
    """Cut an Annex-B stream made with ``aud=1`` at each access-unit delimiter."""
    units = []
    start = data.find(START_CODE_AUD)
    while start != -1:
        end = data.find(START_CODE_AUD, start + len(START_CODE_AUD))
        units.append(data[start : end if end != -1 else len(data)])
        start = end
    return units


def serve(port: int, clip: str, fps: int, start: int = 0) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    with open(clip, "rb") as handle:
        units = split_access_units(handle.read())
    if not units:
        sys.exit(f"{clip}: no access units (encode with -x264-params aud=1)")
    frame_ns = Gst.SECOND // fps

    class Factory(GstRtspServer.RTSPMediaFactory):
        def do_create_element(self, url: object) -> Gst.Element:
            launch = (
                "( appsrc name=src is-live=true format=time do-timestamp=false "
                f"caps=video/x-h264,stream-format=byte-stream,alignment=au,framerate={fps}/1 "
                "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
            )
            return Gst.parse_launch(launch)

    def on_configure(factory: object, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_by_name_recurse_up("src")
        state = {"n": 0}

        def need_data(src: Gst.Element, _length: int) -> None:
            n = state["n"]
            buffer = Gst.Buffer.new_wrapped(units[(start + n) % len(units)])
            buffer.pts = buffer.dts = n * frame_ns
            buffer.duration = frame_ns
            state["n"] = n + 1
            src.emit("push-buffer", buffer)

        appsrc.connect("need-data", need_data)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = Factory()
    factory.set_shared(False)  # each client starts at the clip's first keyframe
    factory.connect("media-configure", on_configure)
    server.get_mount_points().add_factory("/stream1", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


_SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=silent\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"
)


def _answer(conn: socket.socket) -> None:
    """Speak just enough RTSP for a client to reach PLAY, then send nothing at all."""
    buffer = b""
    with conn:
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ")[0]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                reply = ["RTSP/1.0 200 OK", f"CSeq: {headers.get('cseq', '0')}"]
                body = ""
                if method == "OPTIONS":
                    reply.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
                elif method == "DESCRIBE":
                    body = _SDP
                    reply += ["Content-Type: application/sdp", f"Content-Base: {lines[0].split(' ')[1]}/"]
                elif method == "SETUP":
                    reply += [f"Transport: {headers.get('transport', 'RTP/AVP/TCP;interleaved=0-1')}",
                              "Session: 12345678"]
                elif method == "PLAY":
                    reply.append("Session: 12345678")
                reply.append(f"Content-Length: {len(body)}")
                conn.sendall(("\r\n".join(reply) + "\r\n\r\n" + body).encode())


def silent(port: int) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_answer, args=(conn,), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clip")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--mode", choices=["serve", "silent"], default="serve")
    args = parser.parse_args()
    if args.mode == "silent":
        silent(args.port)
    else:
        serve(args.port, args.clip, args.fps, args.start)


if __name__ == "__main__":
    main()
