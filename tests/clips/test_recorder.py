"""The clip recorder on a real video (issue 17): what a clip covers, what it shows, and
what it says when it cannot have all it asked for.

The source is the real capture (``FileSource``) handing the camera's packets to the
recorder, as ``streamer run`` wires it; the frame loop is played by the test (``note`` and
``begin`` on the frames the source hands over). The clip is decoded with OpenCV and
compared with frames OpenCV reads from the video directly.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv
from support import make_video
from support.clips import decode, plan, record, video_frames
from support.rtsp import FAST, RtspServer

from streamer.assets import sample_video
from streamer.source import Frame

# These record bikes.mp4's own packets; a fresh machine fetches it with pip in a
# subprocess, so they are not fast-tier tests (issue 28).
BIKES = pytest.mark.integration

FPS = 25.0  # bikes.mp4: 250 frames at 25 fps, keyframes at 0, 1.2, 3.04, 5.48, 7.48, 9.68 s
KEYFRAME_GAP_S = 2.44  # the longest keyframe interval of bikes.mp4


@BIKES
def test_a_copied_clip_covers_before_and_after_and_shows_that_moment() -> None:
    video = sample_video()
    clips = record(video, {175: plan(2.0, 2.0)})  # the event at 7.0 s
    mp4, meta, frame = clips["event-175"]
    assert mp4 is not None and frame.stream_ts == pytest.approx(7.0)
    assert meta["copied"] is True and meta["codec"] == "h264", meta
    # At least 2 s before (it may start up to one keyframe interval earlier: 3.04 s here)
    # and at least 2 s after, less one frame.
    assert -2.0 - KEYFRAME_GAP_S <= meta["start_s"] <= -2.0, meta
    assert meta["end_s"] >= 2.0 - 1 / FPS, meta
    assert "short" not in meta, meta
    pictures = decode(mp4)
    assert len(pictures) == meta["frames"]
    first = round((7.0 + meta["start_s"]) * FPS)
    direct = video_frames(video)
    for offset, picture in enumerate(pictures):
        difference = np.abs(picture.astype(int) - direct[first + offset].astype(int)).mean()
        assert difference < 1.0, f"clip frame {offset} differs from source frame {first + offset}"
    # The event's own moment is in it, as the source shows it.
    assert np.array_equal(pictures[175 - first], direct[175]) or np.abs(
        pictures[175 - first].astype(int) - direct[175].astype(int)).mean() < 1.0


@BIKES
def test_two_overlapping_events_each_get_their_whole_clip() -> None:
    clips = record(sample_video(), {150: plan(1.0, 2.0), 160: plan(1.0, 2.0)})
    for index in (150, 160):
        mp4, meta, _ = clips[f"event-{index}"]
        assert mp4 is not None and meta["start_s"] <= -1.0 and meta["end_s"] >= 2.0 - 1 / FPS, meta
        assert len(decode(mp4)) == meta["frames"]


@BIKES
def test_an_annotated_clip_shows_the_overlay_drawn_on_the_frames() -> None:
    def draw(frame: Frame, detections: sv.Detections) -> np.ndarray:
        image = frame.image.copy()
        cv2.rectangle(image, (10, 10), (110, 60), (0, 0, 255), -1)  # a solid red box
        return image

    clips = record(sample_video(), {100: plan(1.0, 1.0, annotated=True)}, annotated_draw=draw)
    mp4, meta, _ = clips["event-100"]
    assert mp4 is not None and meta["copied"] is False and meta["annotated"] is True, meta
    assert meta["start_s"] == pytest.approx(-1.0) and meta["end_s"] == pytest.approx(1.0), meta
    pictures = decode(mp4)
    assert len(pictures) == 51
    red = pictures[25][20:50, 20:100].reshape(-1, 3).mean(axis=0)
    assert red[2] > 200 and red[0] < 60 and red[1] < 60, red


@BIKES
def test_a_full_buffer_gives_a_shorter_clip_that_says_so() -> None:
    # 0.15 MB holds well under a second of bikes.mp4's packets: the pre-roll is cut.
    clips = record(sample_video(), {200: plan(5.0, 1.0)}, buffer_mb=0.15)
    mp4, meta, _ = clips["event-200"]
    assert mp4 is not None and meta["start_s"] > -5.0
    assert "buffer_mb" in meta["short"], meta
    assert len(decode(mp4)) == meta["frames"]


@BIKES
def test_a_clip_whose_run_stops_is_closed_at_the_last_frame_and_kept() -> None:
    clips = record(sample_video(), {120: plan(1.0, 5.0)}, stop_at=140)
    mp4, meta, _ = clips["event-120"]
    assert mp4 is not None, meta
    assert meta["end_s"] < 5.0 and "the run stopped" in meta["short"], meta
    assert len(decode(mp4)) == meta["frames"] > 0


def test_a_video_a_browser_cannot_play_copied_is_encoded_as_h264(tmp_path: Path) -> None:
    video = make_video(tmp_path / "mpeg4.mp4", frames=60, fps=10.0)  # MPEG-4 part 2, not H.264
    clips = record(video, {30: plan(1.0, 1.0)})
    mp4, meta, _ = clips["event-30"]
    assert mp4 is not None and meta["copied"] is False and meta["codec"] == "h264", meta
    assert meta["start_s"] == pytest.approx(-1.0) and meta["end_s"] == pytest.approx(1.0), meta
    assert len(decode(mp4)) == 21


@pytest.mark.integration
@pytest.mark.system
def test_a_clip_of_the_real_rtsp_camera_is_its_own_stream_around_the_event(clip: Path) -> None:
    """The real RTSP server (GStreamer, H.264, a keyframe each second, 25 fps): the clip
    copies the camera's packets and its picture at the event is the frame the loop saw."""
    server = RtspServer(clip).start()
    try:
        clips = record(server.url(), {50: plan(1.0, 1.0)}, stop_at=90, **FAST)
    finally:
        server.kill()
    mp4, meta, frame = clips["event-50"]
    assert mp4 is not None and meta["copied"] is True and meta["codec"] == "h264", meta
    assert -2.0 <= meta["start_s"] <= -1.0 and meta["end_s"] >= 1.0 - 1 / FPS, meta
    pictures = decode(mp4)
    assert len(pictures) == meta["frames"]
    at_event = round(-meta["start_s"] * FPS)
    difference = np.abs(pictures[at_event].astype(int) - frame.image.astype(int)).mean()
    assert difference < 1.0, f"the clip's picture at the event differs from the frame the loop saw ({difference:.1f})"
    # Its neighbours differ from it (testsrc2 moves): the match above is that moment's.
    assert np.abs(pictures[at_event - 5].astype(int) - frame.image.astype(int)).mean() > 1.0
