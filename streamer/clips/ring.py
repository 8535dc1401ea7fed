"""The picture kept from before an event: bounded by seconds and by bytes.

Two kinds, as a network video recorder has them: the camera's own compressed packets
(a few MB for seconds of 1080p; a clip is a copy of them) and, where there are no packets
(USB and HTTP cameras, annotated clips), references to the decoded frames the frame loop
already holds (no copy on the loop; about 6 MB each at 1080p).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import supervision as sv

from streamer.source import Frame
from streamer.source.packets import StreamPacket


class PacketRing:
    """The newest packets of one stream epoch, from a keyframe on, whole GOPs evicted.

    A clip can only start at a keyframe, so the ring keeps ``keep_s`` seconds plus the
    GOP they start in, unless that passes ``max_bytes``; then it keeps less and clips
    started from it say they are short.
    """

    def __init__(self, keep_s: float, max_bytes: int) -> None:
        self.keep_s = keep_s
        self.max_bytes = max_bytes
        self._packets: deque[StreamPacket] = deque()
        self.nbytes = 0
        self.evicted_for_bytes = 0

    def add(self, packet: StreamPacket) -> None:
        if self._packets and packet.epoch != self._packets[-1].epoch:
            self.clear()  # a new opening: the old packets cannot be joined to it
        if not self._packets and not packet.keyframe:
            return  # nothing decodes before the first keyframe
        self._packets.append(packet)
        self.nbytes += packet.size
        self._evict(packet)

    def _evict(self, newest: StreamPacket) -> None:
        now = packet_time(newest)
        while True:
            second = self._second_keyframe()
            if second is None:
                if self.nbytes > self.max_bytes and len(self._packets) > 1:
                    # One GOP larger than the budget: nothing can be kept of it.
                    self.evicted_for_bytes += 1
                    self.clear()
                return
            over_bytes = self.nbytes > self.max_bytes
            # Drop the oldest GOP once the next one alone still reaches back keep_s.
            if not over_bytes and now - packet_time(self._packets[second]) < self.keep_s:
                return
            if over_bytes:
                self.evicted_for_bytes += 1
            for _ in range(second):
                self.nbytes -= self._packets.popleft().size

    def _second_keyframe(self) -> int | None:
        for index, packet in enumerate(self._packets):
            if index and packet.keyframe:
                return index
        return None

    def since(self, start_s: float, epoch: int) -> list[StreamPacket]:
        """The packets from the last keyframe at or before ``start_s`` (or the oldest)."""
        packets = [p for p in self._packets if p.epoch == epoch]
        begin = 0
        for index, packet in enumerate(packets):
            if packet.keyframe and packet_time(packet) <= start_s:
                begin = index
        return packets[begin:]

    def seconds(self) -> float:
        """How far back the ring reaches now."""
        if not self._packets:
            return 0.0
        return max(packet_time(self._packets[-1]) - packet_time(self._packets[0]), 0.0)

    def clear(self) -> None:
        self._packets.clear()
        self.nbytes = 0


def packet_time(packet: StreamPacket) -> float:
    """Presentation time, else decode time (some RTSP packets carry only one)."""
    if packet.pts_s is not None:
        return packet.pts_s
    return packet.dts_s if packet.dts_s is not None else 0.0


def decode_time(packet: StreamPacket) -> float:
    """Decode time, else presentation time: the order packets arrive in."""
    return packet.dts_s if packet.dts_s is not None else packet_time(packet)


@dataclass(frozen=True)
class Noted:
    """A frame the frame loop processed and what was tracked on it (for annotation)."""

    frame: Frame
    detections: sv.Detections


class FrameRing:
    """References to the last ``keep_s`` seconds of frames, within ``max_bytes``."""

    def __init__(self, keep_s: float, max_bytes: int) -> None:
        self.keep_s = keep_s
        self.max_bytes = max_bytes
        self._frames: deque[Noted] = deque()
        self.nbytes = 0

    def add(self, noted: Noted) -> None:
        self._frames.append(noted)
        self.nbytes += noted.frame.image.nbytes
        newest = noted.frame.t_s
        while self._frames and (
            self.nbytes > self.max_bytes or newest - self._frames[0].frame.t_s > self.keep_s
        ):
            self.nbytes -= self._frames.popleft().frame.image.nbytes

    def since(self, start_s: float) -> list[Noted]:
        return [noted for noted in self._frames if noted.frame.t_s >= start_s]

    def seconds(self) -> float:
        if not self._frames:
            return 0.0
        return self._frames[-1].frame.t_s - self._frames[0].frame.t_s
