"""`curation.media.video_timing` and `probe_media` on videos whose frame timestamps are set here (a late first
frame, a hole, B-frames), and the stall watchdog of `read_raw_frames`: a decoder that stops sending frames is killed
instead of hanging the task."""

import sys
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from curation.media import MediaError, probe_media, read_raw_frames, rgb_frames_command, video_timing

# The NTSC frame period: timestamps are counted in it, as in a 29.97 fps camera file.
PERIOD = Fraction(1001, 30000)
WIDTH_PX, HEIGHT_PX = 128, 64


def indexed_frame(index: int) -> np.ndarray:
    """A frame whose two flat halves give its index: left 8·(index mod 32), right 8·(index div 32)."""
    frame = np.empty((HEIGHT_PX, WIDTH_PX, 3), np.uint8)
    frame[:, : WIDTH_PX // 2] = 8 * (index % 32)
    frame[:, WIDTH_PX // 2 :] = 8 * (index // 32)
    return frame


def frame_index(rgb: np.ndarray) -> int:
    """The index `indexed_frame` drew into a decoded frame."""
    half = rgb.shape[1] // 2
    return int(round(rgb[:, :half].mean() / 8)) + 32 * int(round(rgb[:, half:].mean() / 8))


def write_indexed_video(path, periods: list[int], *, audio_s: float | None = None):
    """An H.264 mp4 (with B-frames) whose frame i shows `indexed_frame(i)` at time periods[i]·1001/30000 s exactly
    (the movie time scale is the stream's, so the first frame's delay is not rounded), optionally with `audio_s`
    seconds of 16 kHz stereo AAC."""
    with av.open(str(path), "w", format="mp4", options={"movie_timescale": "30000"}) as container:
        video = container.add_stream("libx264", rate=1 / PERIOD)
        video.width, video.height, video.pix_fmt, video.time_base = WIDTH_PX, HEIGHT_PX, "yuv420p", PERIOD
        video.codec_context.max_b_frames = 2
        video.options = {"crf": "1", "preset": "veryfast"}
        sound = None if audio_s is None else container.add_stream("aac", rate=16000, layout="stereo")
        for index, period in enumerate(periods):
            frame = av.VideoFrame.from_ndarray(indexed_frame(index), format="rgb24")
            frame.pts, frame.time_base = period, PERIOD
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            samples = (0.1 * np.random.default_rng(0).standard_normal((2, int(audio_s * 16000)))).astype(np.float32)
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start : start + 1024]),
                                                   format="fltp", layout="stereo")
                chunk.sample_rate, chunk.pts = 16000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


# 30 frames from 0.3003 s (9 periods), a hole of 15 missing frames (≈ 0.5 s), 30 more frames.
LATE_AND_GAP = [9 + i for i in range(30)] + [54 + i for i in range(30)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("timing")
    return {
        "late_gap": write_indexed_video(root / "late_gap.mp4", LATE_AND_GAP),
        "regular": write_indexed_video(root / "regular.mp4", list(range(90)), audio_s=3.0),
    }


def test_timing_of_a_video_with_a_late_first_frame_and_a_hole(videos):
    timing = video_timing(videos["late_gap"])
    period_s = timing.frame_period_s
    # The nominal period, not the average rate's, which counts the hole (60 frames over 75 periods).
    assert period_s == pytest.approx(float(PERIOD))
    assert 1 / probe_media(videos["late_gap"]).fps == pytest.approx(float(75 * PERIOD / 60))
    assert timing.n_frames == 60
    assert timing.start_s == pytest.approx(float(9 * PERIOD))
    assert timing.end_s == pytest.approx(float(83 * PERIOD) + period_s)
    # The hole is between frame 29 (period 38) and frame 30 (period 54); no other frames are 1.5 periods apart.
    assert len(timing.gaps_s) == 1
    assert timing.gaps_s[0] == pytest.approx((float(38 * PERIOD), float(54 * PERIOD)))
    assert timing.longest_gap_s == pytest.approx(float(16 * PERIOD))


def test_timing_of_a_regular_29_97_fps_video_with_b_frames(videos):
    with av.open(str(videos["regular"])) as container:
        packets = [p for p in container.demux(video=0) if p.pts is not None]
    assert any(p.pts != p.dts for p in packets), "the file must have reordered (B-) frames"
    timing = video_timing(videos["regular"])
    assert timing.frame_period_s == pytest.approx(float(PERIOD))
    assert (timing.n_frames, timing.gaps_s, timing.longest_gap_s) == (90, (), 0.0)
    assert timing.start_s == 0.0 and timing.end_s == pytest.approx(float(90 * PERIOD))


def test_probe_of_the_late_video_and_of_the_regular_one_with_audio(videos):
    late = probe_media(videos["late_gap"])
    assert (late.width_px, late.height_px) == (WIDTH_PX, HEIGHT_PX)
    assert late.start_s == pytest.approx(float(9 * PERIOD))
    assert (late.audio_stream, late.audio_rate_hz, late.audio_channels) == (None, None, None)
    regular = probe_media(videos["regular"])
    assert regular.fps == pytest.approx(29.97, abs=1e-3) and regular.start_s == 0.0
    assert regular.duration_s == pytest.approx(3.0, abs=0.1)
    assert (regular.audio_stream, regular.audio_rate_hz, regular.audio_channels) == ("aac 16000 Hz stereo", 16000, 2)


def test_an_unreadable_video_is_refused_naming_it(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(20_000))
    for read in (video_timing, probe_media):
        with pytest.raises(MediaError, match="not a readable video") as raised:
            read(path)
        assert str(path) in str(raised.value)
    with pytest.raises(MediaError, match="no such file"):
        video_timing(tmp_path / "missing.mp4")


def run_with_limit(function, limit_s: float = 60.0):
    """Run `function` on a thread; the outcome ("returned", value) or ("raised", exception), or None if it is still
    running after `limit_s` (a hang)."""
    outcome = []

    def target():
        try:
            outcome.append(("returned", function()))
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            outcome.append(("raised", exc))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=limit_s)
    return outcome[0] if outcome else None


@pytest.mark.parametrize("script", [
    "import time; time.sleep(120)",
    # Half a frame, then nothing.
    "import sys, time; sys.stdout.buffer.write(bytes(24)); sys.stdout.flush(); time.sleep(120)",
])
def test_a_decoder_that_stops_sending_frames_is_killed(script):
    command = [sys.executable, "-c", script]
    outcome = run_with_limit(lambda: list(read_raw_frames(command, "stalled.mp4", 4, 4, stall_timeout_s=0.5)))
    assert outcome is not None, "read_raw_frames hung"
    kind, error = outcome
    assert kind == "raised" and isinstance(error, MediaError), outcome
    assert "stalled.mp4" in str(error) and "0.5 s" in str(error)


def test_time_spent_on_a_yielded_frame_is_not_a_stall(videos):
    command = rgb_frames_command(videos["regular"], "null")
    frames = []
    for frame in read_raw_frames(command, videos["regular"], WIDTH_PX, HEIGHT_PX, stall_timeout_s=0.2):
        if not frames:
            time.sleep(0.5)  # ffmpeg has long written the next frames into the pipe
        frames.append(frame_index(frame))
    assert frames == list(range(90))
