"""The clip recorder: the seconds before and after each event, at no cost to detection.

The capture thread hands it every compressed packet (kept in a ring, no copy); the frame
loop tells it which frames it processed and when an event fires (a few list appends).
Everything that costs — muxing, decoding, drawing, encoding — runs on the recorder's own
thread once a clip's last second has arrived, and the MP4 goes to the outbox with the
event. A clip that cannot get all it asked for (the buffer was full, the camera restarted,
the run stopped) is shorter and says why in its ``meta["short"]``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import supervision as sv

from streamer.clips.mp4 import Draw, copy_packets, encode_frames
from streamer.clips.ring import FrameRing, Noted, PacketRing, decode_time, packet_time
from streamer.events.clips import ClipPlan
from streamer.source import Frame
from streamer.source.packets import StreamPacket

log = logging.getLogger("streamer.clips")

Attach = Callable[[str, "bytes | None", dict[str, Any]], None]

# Codecs a browser plays inside MP4: only these are copied; others are re-encoded.
COPYABLE = {"h264"}
# A file source decodes ahead of the frame loop (its hand-off queue): the packet ring
# keeps this much more than the longest pre_s so an event still finds its pre-roll.
LEAD_S = 2.0
# A clip that starts or ends within this of what was asked is not "short".
SLACK_S = 0.25
_STOP = object()


@dataclass
class _Clip:
    event_id: str
    plan: ClipPlan
    event_s: float  # the event's time on the clip's clock (stream time or frame time)
    end_s: float
    epoch: int | None  # packets of this stream epoch; None: a clip of frames
    packets: list[StreamPacket] = field(default_factory=list)
    frames: list[Noted] = field(default_factory=list)
    frame_bytes: int = 0
    ended: str = ""  # why it ended before end_s


@dataclass
class RecorderStats:
    written_total: int = 0
    copied_total: int = 0
    encoded_total: int = 0
    short_total: int = 0
    failed_total: int = 0
    last_error: str = ""


class ClipRecorder:
    """Keeps the pre-event picture and writes each event's clip off the frame loop.

    Args:
        buffer_mb: memory for kept packets, and separately for kept frames.
        max_pre_s: the longest ``pre_s`` of any rule (how far back the rings reach).
        attach: hands a finished clip (or ``None`` and a reason) to the outbox.
        draw: the overlay, for annotated clips (called on the recorder's thread).
    """

    def __init__(self, buffer_mb: float, max_pre_s: float, attach: Attach, draw: Draw) -> None:
        budget = int(buffer_mb * 2**20)
        self._packets = PacketRing(max_pre_s + LEAD_S, budget)
        self._frames = FrameRing(max_pre_s, budget)
        self._budget = budget
        self._attach = attach
        self._draw = draw
        self._lock = threading.Lock()
        self._open: list[_Clip] = []
        self._done: queue.Queue[_Clip | object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="clip-recorder", daemon=True)
        self._codec = ""
        self.want_frames = False  # set when a rule's clips are annotated
        self.stats = RecorderStats()

    def start(self) -> None:
        self._thread.start()

    # --- the capture thread ------------------------------------------------------------

    def on_packet(self, packet: StreamPacket) -> None:
        """One compressed packet of the camera's stream (cheap: appends under a lock)."""
        with self._lock:
            self._codec = packet.codec
            self._packets.add(packet)
            for clip in list(self._open):
                if clip.epoch is None:
                    continue
                if clip.epoch != packet.epoch:
                    self._finish(clip, "the camera's stream restarted")
                    continue
                clip.packets.append(packet)
                self._finish_if_complete(clip)

    # --- the frame loop ----------------------------------------------------------------

    def note(self, frame: Frame, detections: sv.Detections) -> None:
        """A frame the loop processed, with its tracked detections."""
        with self._lock:
            framed = [clip for clip in self._open if clip.epoch is None]
            keep = self._frames_needed(frame)
            if not (framed or keep):
                return
            noted = Noted(frame, detections)
            if keep:
                self._frames.add(noted)
            for clip in framed:
                if clip.frame_bytes + frame.image.nbytes > self._budget:
                    self._finish(clip, "clips.buffer_mb was full")
                    continue
                clip.frames.append(noted)
                clip.frame_bytes += frame.image.nbytes
                if frame.t_s >= clip.end_s:
                    self._finish(clip)

    def _frames_needed(self, frame: Frame) -> bool:
        """Frames are kept for annotated clips and where there are no copyable packets."""
        return self.want_frames or frame.stream_ts is None or self._codec not in COPYABLE

    def begin(self, event_id: str, plan: ClipPlan, frame: Frame) -> None:
        """An event fired on ``frame``: its clip starts ``pre_s`` back from the rings."""
        with self._lock:
            copy = (
                not plan.annotated and frame.stream_ts is not None and self._codec in COPYABLE
            )
            if copy:
                assert frame.stream_ts is not None
                event_s = frame.stream_ts
                clip = _Clip(event_id, plan, event_s, event_s + plan.post_s, frame.stream_epoch)
                clip.packets = self._packets.since(event_s - plan.pre_s, frame.stream_epoch)
                if not clip.packets:
                    clip.ended = "no packets of the camera's stream were kept"
            else:
                clip = _Clip(event_id, plan, frame.t_s, frame.t_s + plan.post_s, None)
                clip.frames = self._frames.since(frame.t_s - plan.pre_s) or [Noted(frame, sv.Detections.empty())]
                clip.frame_bytes = sum(noted.frame.image.nbytes for noted in clip.frames)
            self._open.append(clip)
            if clip.ended:
                self._finish(clip, clip.ended)
            elif copy:
                self._finish_if_complete(clip)
            elif frame.t_s >= clip.end_s:
                self._finish(clip)

    def _finish_if_complete(self, clip: _Clip) -> None:
        """A copied clip is complete once a packet decodes after its end (dts > end)."""
        last = clip.packets[-1] if clip.packets else None
        if last is None:
            return
        if decode_time(last) > clip.end_s:
            clip.packets = [p for p in clip.packets if decode_time(p) <= clip.end_s] or clip.packets[:1]
            self._finish(clip)

    def _finish(self, clip: _Clip, why: str = "") -> None:
        """Hand a clip to the recorder's thread (under the lock)."""
        if clip in self._open:
            self._open.remove(clip)
        clip.ended = clip.ended or why
        self._done.put(clip)

    # --- stopping and status -------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> None:
        """Close every open clip at the last frame it has, write them all, then end."""
        with self._lock:
            for clip in list(self._open):
                self._finish(clip, "the run stopped")
        self._done.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the clip recorder did not finish writing clips in %.0f s", timeout)

    def describe(self) -> str:
        """The line ``run`` prints once the camera's first frame came."""
        with self._lock:
            codec = self._codec
        if codec in COPYABLE:
            how = f"the camera's own {codec} packets are copied (no re-encode)"
        elif codec:
            how = f"the camera sends {codec}, which browsers do not play: frames are encoded as H.264"
        else:
            how = "frames are encoded as H.264 (this camera is not read packet by packet)"
        if self.want_frames:
            how += "; annotated clips are drawn and encoded"
        return f"clips: {how}; up to {self._budget / 2**20:g} MB kept from before events"

    def status(self) -> dict[str, object]:
        """``/api/status``'s ``clips``."""
        return {"clips": self.counters()}

    def counters(self) -> dict[str, object]:
        """The recorder's buffer and counters (``/api/status``'s ``clips``, the summary's)."""
        stats = self.stats
        return {
            "buffer_mb": round((self._packets.nbytes + self._frames.nbytes) / 2**20, 2),
            "buffer_s": round(max(self._packets.seconds(), self._frames.seconds()), 1),
            "recording": len(self._open),
            "written_total": stats.written_total,
            "copied_total": stats.copied_total,
            "encoded_total": stats.encoded_total,
            "short_total": stats.short_total,
            "failed_total": stats.failed_total,
            "last_error": stats.last_error,
        }

    # --- the recorder's thread -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._done.get()
            if item is _STOP:
                return
            assert isinstance(item, _Clip)
            self._write(item)

    def _write(self, clip: _Clip) -> None:
        started = time.monotonic()
        try:
            mp4, meta = self._make(clip)
        except Exception as exc:  # a clip must never take the recorder down
            reason = f"could not write the clip: {exc}"
            log.error("event %s: %s", clip.event_id, reason)
            self.stats.failed_total += 1
            self.stats.last_error = reason
            self._attach(clip.event_id, None, {"reason": reason})
            return
        meta["write_s"] = round(time.monotonic() - started, 3)
        self.stats.written_total += 1
        if meta.get("short"):
            self.stats.short_total += 1
        self._attach(clip.event_id, mp4, meta)

    def _make(self, clip: _Clip) -> tuple[bytes, dict[str, Any]]:
        plan = clip.plan
        if clip.epoch is not None:
            times = [packet_time(p) for p in clip.packets]
            mp4 = copy_packets(clip.packets)
            first_s, last_s, count = min(times), max(times), len(clip.packets)
            codec, copied = clip.packets[0].codec, True
            self.stats.copied_total += 1
        else:
            frames = clip.frames
            span = frames[-1].frame.t_s - frames[0].frame.t_s
            fps = (len(frames) - 1) / span if span > 0 else 10.0
            mp4 = encode_frames(frames, self._draw if plan.annotated else None, fps)
            first_s, last_s, count = frames[0].frame.t_s, frames[-1].frame.t_s, len(frames)
            codec, copied = "h264", False
            self.stats.encoded_total += 1
        start_s, end_s = first_s - clip.event_s, last_s - clip.event_s
        short = []
        if start_s > -plan.pre_s + SLACK_S:
            short.append(
                f"starts {max(-start_s, 0.0):.1f} s before the event, not {plan.pre_s:g} s: no more was "
                f"kept (the camera had just started, or clips.buffer_mb is too small)"
            )
        if end_s < plan.post_s - SLACK_S:
            why = clip.ended or "the stream ended"
            short.append(f"ends {max(end_s, 0.0):.1f} s after the event, not {plan.post_s:g} s: {why}")
        meta: dict[str, Any] = {
            "start_s": round(start_s, 3),
            "end_s": round(end_s, 3),
            "duration_s": round(last_s - first_s, 3),
            "frames": count,
            "codec": codec,
            "copied": copied,
            "annotated": plan.annotated,
            "bytes": len(mp4),
        }
        if short:
            meta["short"] = "; ".join(short)
        return mp4, meta
