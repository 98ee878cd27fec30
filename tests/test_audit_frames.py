"""The contact sheet's frame: picked from the events and the clip video's container (exact frame rate, frame count)
before anything is decoded, then that one frame decoded in-process (`curation.audit.page.ClipVideo`), pixel for
pixel the frame the ffmpeg decode path (`curation.media.iter_video_frames`) gives at the same index.

A 29.97 fps clip whose every frame shows, as two grey levels, the label frame it falls in (from its exact start
time k · 1001 / 30000 s) checks the frame ↔ label frame mapping against the picture itself."""

import math
from fractions import Fraction

import av
import numpy as np
import pytest

from curation.audit.page import ClipVideo, best_video_frame, label_frame_of_video_frame
from curation.media import MediaError, encode_video, iter_video_frames

NTSC_FPS = Fraction(30000, 1001)
# Long enough (2,098 frames, several keyframes) that frame over duration (29.9714 fps) and the exact rate disagree
# about which label frame some frames show.
CLIP_S = 70
SIZE_PX = 64
# A label frame f is drawn as two flat grey halves: 8 + 10 · (f // 32) on the left, 4 + 8 · (f % 32) on the right.
HIGH_BASE, HIGH_STEP, LOW_BASE, LOW_STEP, LOW_RADIX = 8, 10, 4, 8, 32


def label_frame_picture(label_frame: int) -> np.ndarray:
    picture = np.empty((SIZE_PX, SIZE_PX, 3), np.uint8)
    picture[:, : SIZE_PX // 2] = HIGH_BASE + HIGH_STEP * (label_frame // LOW_RADIX)
    picture[:, SIZE_PX // 2 :] = LOW_BASE + LOW_STEP * (label_frame % LOW_RADIX)
    return picture


def label_frame_in(picture: np.ndarray) -> int:
    """The label frame a decoded picture shows (its halves' mean grey levels, away from the edge between them)."""
    high = round((picture[:, 4 : SIZE_PX // 2 - 4].mean() - HIGH_BASE) / HIGH_STEP)
    low = round((picture[:, SIZE_PX // 2 + 4 : -4].mean() - LOW_BASE) / LOW_STEP)
    return LOW_RADIX * high + low


@pytest.fixture(scope="module")
def ntsc_clip(tmp_path_factory):
    """A 70 s clip at exactly 30000/1001 fps; frame k shows the label frame floor(k · 1001 / 3000)."""
    n_frames = math.ceil(CLIP_S * NTSC_FPS)
    shown = [math.floor(Fraction(k) / NTSC_FPS * 10) for k in range(n_frames)]
    path = tmp_path_factory.mktemp("ntsc") / "clip.mp4"
    encode_video((label_frame_picture(label_frame) for label_frame in shown), path, NTSC_FPS)
    return path, shown


def test_the_picture_code_survives_the_encoder(ntsc_clip):
    path, shown = ntsc_clip
    decoded = [label_frame_in(frame) for frame in iter_video_frames(path, SIZE_PX, SIZE_PX)]
    assert decoded == shown


def test_a_29_97_fps_clip_reads_its_exact_rate_and_frame_count_from_the_container(ntsc_clip):
    path, shown = ntsc_clip
    with ClipVideo(path) as video:
        assert video.fps == NTSC_FPS
        assert video.n_frames == len(shown) == 2098


@pytest.mark.parametrize("label_frame", [0, 1, 49, 150, 333, 334, 500, 699])
def test_the_frame_picked_for_an_event_shows_that_event_s_label_frame(ntsc_clip, label_frame):
    path, _ = ntsc_clip
    with ClipVideo(path) as video:
        k = best_video_frame([label_frame], video.n_frames, video.fps)
        assert label_frame_of_video_frame(k, video.fps) == label_frame
        assert label_frame_in(video.frame(k, SIZE_PX, SIZE_PX)) == label_frame


def test_frames_over_duration_would_show_the_next_label_frame(ntsc_clip):
    """Why the rate comes from the container: guessed as frames / duration (2098 / 70 s = 29.9714 fps), frame 1001
    (at 33.40003 s) seems to show label frame 333 and is picked for an event there; it shows 334."""
    path, shown = ntsc_clip
    guessed_fps = len(shown) / CLIP_S
    k = best_video_frame([333], len(shown), guessed_fps)
    assert (k, label_frame_of_video_frame(k, guessed_fps)) == (1001, 333)
    with ClipVideo(path) as video:
        assert label_frame_in(video.frame(k, SIZE_PX, SIZE_PX)) == 334
        assert best_video_frame([333], video.n_frames, video.fps) == 1000


@pytest.mark.parametrize("size_px", [(SIZE_PX, SIZE_PX), (40, 24)])
def test_decoding_one_frame_matches_the_ffmpeg_decode_path_across_keyframes(ntsc_clip, size_px):
    path, shown = ntsc_clip
    everything = list(iter_video_frames(path, *size_px))
    with av.open(str(path)) as container:
        assert sum(packet.is_keyframe for packet in container.demux(video=0)) > 10
    with ClipVideo(path) as video:
        # The first frame, frames around keyframes (x264 starts a new group of pictures about every 100 frames
        # here, at frames 96, 192, ...; each k decodes from the last one at or before it), the middle and the last.
        # One ClipVideo asked for several frames, in any order (the last one first: after the decoder has drained).
        for k in (len(shown) - 1, 0, 1, 95, 96, 97, 600, 1001, 1049, 1001, 2):
            assert np.array_equal(video.frame(k, *size_px), everything[k]), k


def test_a_frame_past_the_end_is_an_error_naming_the_file(ntsc_clip):
    path, shown = ntsc_clip
    with ClipVideo(path) as video, pytest.raises(MediaError, match=r"clip\.mp4: no video frame 2098"):
        video.frame(len(shown), SIZE_PX, SIZE_PX)


def test_a_file_that_is_not_a_video_is_an_error_naming_it(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="broken.mp4"):
        ClipVideo(path)


def reference_best_frame(label_frames, n_video_frames, fps):
    """The rule written out frame by frame: most events shown, then nearest the middle, then the earliest."""
    counts = {label_frame: list(label_frames).count(label_frame) for label_frame in set(label_frames)}
    middle = (n_video_frames - 1) / 2
    return max(range(n_video_frames),
               key=lambda k: (counts.get(label_frame_of_video_frame(k, fps), 0), -abs(k - middle), -k))


def test_best_video_frame_follows_the_rule_frame_by_frame():
    rng = np.random.default_rng(14)
    for n_video_frames, fps in [(20, 4), (150, NTSC_FPS), (21, 4), (1, 4), (300, 60)]:
        label_frames_in_clip = label_frame_of_video_frame(n_video_frames - 1, fps) + 1
        for _ in range(40):
            label_frames = rng.integers(0, label_frames_in_clip, size=rng.integers(0, 12)).tolist()
            assert (best_video_frame(label_frames, n_video_frames, fps)
                    == reference_best_frame(label_frames, n_video_frames, fps)), (label_frames, n_video_frames)
    # No events: the middle frame (of two equally near, the earlier).
    assert best_video_frame([], 20, 4) == 9
    assert best_video_frame([], 21, 4) == 10
