"""Clip frames are taken by timestamp: each grid tick shows the last source frame whose timestamp is at or before
it, whatever the first frame's time, holes in the frames or B-frame reordering; a video that stops decoding, or
ends, rejects exactly the clips it no longer covers, with a reason saying which."""

import os
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile as sf

from curation.media import MediaError, video_timing
from curation.plan import plan_recording
from curation.render import GridFrames, default_decode_threads, render_recording
from data_contracts.annotations import AnnotationRow
from data_contracts.recipe import load_recipe
from tests.test_media_timing import (
    HEIGHT_PX,
    LATE_AND_GAP,
    PERIOD,
    WIDTH_PX,
    frame_index,
    run_with_limit,
    write_indexed_video,
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    return {
        "late_gap": write_indexed_video(root / "late_gap.mp4", LATE_AND_GAP),
        "regular": write_indexed_video(root / "regular.mp4", list(range(90))),
    }


def expected_indices(periods: list[int], rate_hz: Fraction, end_s: float) -> list[int]:
    """For each tick m up to the last at or before `end_s`: the index of the last frame at or before m/rate_hz
    (frame i is at periods[i]·1001/30000 s), or 0 before the first frame."""
    times = [p * PERIOD for p in periods]
    n_ticks = int(np.floor(end_s * float(rate_hz))) + 1
    return [max([i for i, t in enumerate(times) if t <= m / rate_hz], default=0) for m in range(n_ticks)]


@pytest.mark.parametrize("name, periods", [("late_gap", LATE_AND_GAP), ("regular", list(range(90)))])
@pytest.mark.parametrize("rate_hz", [Fraction(4), Fraction(10), Fraction(20)])
def test_each_tick_shows_the_last_frame_at_or_before_it(videos, name, periods, rate_hz):
    path = videos[name]
    grid = GridFrames(path, rate_hz, (WIDTH_PX, HEIGHT_PX))
    ticks = list(grid)
    expected = expected_indices(periods, rate_hz, video_timing(path).end_s)
    assert [tick for tick, _ in ticks] == list(range(len(expected)))
    assert [frame_index(frame) for _, frame in ticks] == expected
    assert all(frame.shape == (HEIGHT_PX, WIDTH_PX, 3) for _, frame in ticks)
    assert (grid.last_tick, grid.n_decoded, grid.failure) == (len(expected) - 1, len(periods), None)


def test_the_late_start_and_the_hole_are_filled_as_the_rule_says(videos):
    frames = {tick: frame_index(frame) for tick, frame in GridFrames(videos["late_gap"], Fraction(10),
                                                                     (WIDTH_PX, HEIGHT_PX))}
    # Ticks 0.0 s to 0.3 s come before the first frame (0.3003 s): they show it.
    assert [frames[m] for m in range(4)] == [0, 0, 0, 0]
    # Frame 29 (1.268 s) is shown through the hole, until frame 30 (1.802 s) and its next two (1.869 s) at 1.9 s.
    assert [frames[m] for m in range(12, 20)] == [26, 29, 29, 29, 29, 29, 29, 32]


def test_only_wanted_ticks_are_yielded(videos):
    grid = GridFrames(videos["late_gap"], Fraction(10), (WIDTH_PX, HEIGHT_PX), wanted={1, 15, 16, 28, 99})
    every = {tick: frame_index(frame) for tick, frame in GridFrames(videos["late_gap"], Fraction(10),
                                                                    (WIDTH_PX, HEIGHT_PX))}
    assert [(tick, frame_index(frame)) for tick, frame in grid] == [(m, every[m]) for m in (1, 15, 16, 28)]
    assert grid.last_tick == max(every)


@pytest.mark.parametrize("name", ["late_gap", "regular"])
@pytest.mark.parametrize("step", [1, 3])
def test_frames_no_wanted_tick_shows_are_skipped_without_changing_any_tick(videos, name, step):
    """Non-reference frames (the videos have B-frames) that no wanted tick shows are not decoded: fewer frames
    decoded, and every wanted tick still shows what a full decode shows, up to the same last tick."""
    full = GridFrames(videos[name], Fraction(4), (WIDTH_PX, HEIGHT_PX))
    every = {tick: frame_index(frame) for tick, frame in full}
    wanted = set(range(0, max(every) + 1, step))
    grid = GridFrames(videos[name], Fraction(4), (WIDTH_PX, HEIGHT_PX), wanted=wanted)
    assert [(tick, frame_index(frame)) for tick, frame in grid] == [(m, every[m]) for m in sorted(wanted)]
    assert grid.last_tick == full.last_tick
    assert grid.n_decoded < full.n_decoded


@pytest.mark.parametrize("name", ["late_gap", "regular"])
def test_one_decoding_thread_shows_the_same_pixels_as_many(videos, name):
    """The decoder's thread count (`default_decode_threads`) changes how fast, never what: every wanted tick's
    picture is the same array, with and without frames skipped."""
    wanted = set(range(0, 40, 2))
    for ticks in (None, wanted):
        one = [(tick, frame.copy()) for tick, frame in GridFrames(videos[name], Fraction(4), (WIDTH_PX, HEIGHT_PX),
                                                                  threads=1, wanted=ticks)]
        auto = list(GridFrames(videos[name], Fraction(4), (WIDTH_PX, HEIGHT_PX), threads=0, wanted=ticks))
        assert [tick for tick, _ in one] == [tick for tick, _ in auto] and len(one) >= 4
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(one, auto))


@pytest.mark.parametrize("cpus, threads", [(None, 1), (1, 1), (2, 1), (7, 1), (8, 2), (32, 8)])
def test_the_decoder_gets_a_quarter_of_the_cpus(monkeypatch, cpus, threads):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert default_decode_threads() == threads


def write_noise_video(path, n_frames: int):
    """A 29.97 fps H.264 mp4 of random frames (large: ~13 KB a frame), the moov atom at its end."""
    rng = np.random.default_rng(5)
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=1 / PERIOD)
        video.width, video.height, video.pix_fmt = WIDTH_PX, HEIGHT_PX, "yuv420p"
        video.options = {"crf": "18", "preset": "ultrafast"}
        for index in range(n_frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (HEIGHT_PX, WIDTH_PX, 3), np.uint8),
                                               format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
    return path


def corrupt(path, at_fraction: float, n_bytes: int = 64 * 1024):
    """Overwrite `n_bytes` of the file at `at_fraction` of its length with random bytes (inside the media data)."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at_fraction)
    data[start : start + n_bytes] = np.random.default_rng(9).bytes(n_bytes)
    path.write_bytes(bytes(data))
    return path


def test_a_video_corrupted_in_the_middle_ends_decoding_instead_of_hanging(tmp_path):
    path = corrupt(write_noise_video(tmp_path / "corrupt.mp4", 300), 0.5)
    grid = GridFrames(path, Fraction(4), (WIDTH_PX, HEIGHT_PX))
    outcome = run_with_limit(lambda: [tick for tick, _ in grid])
    assert outcome is not None, "decoding a corrupted video hung"
    kind, value = outcome
    if kind == "raised":
        assert isinstance(value, MediaError) and str(path) in str(value), value
    else:
        # The ticks stop before the end of the 10 s video, where decoding failed.
        assert grid.failure is not None and value == list(range(len(value)))
        assert value[-1] / 4 <= grid.failed_at_s < 10.0


RECORDING_ID = "fold9_room1_mix001"
RECIPE = load_recipe(overrides=["view_azimuths_deg=[0]", "min_onscreen_frames=10"])
DURATION_S = 10.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 10 s recording with a talker straight ahead all along: one clip per 0.5 s hop, starting at 0 … 5 s."""
    root = tmp_path_factory.mktemp("recording")
    rows = [AnnotationRow(frame, 0, 0, 0.0, 0.0) for frame in range(int(DURATION_S * 10))]
    plan = plan_recording(RECORDING_ID, "dev-train-synth", "generation", DURATION_S, rows, RECIPE)
    audio = root / f"{RECORDING_ID}.wav"
    sf.write(audio, 1e-3 * np.random.default_rng(1).standard_normal((int(DURATION_S * 24000), 4)), 24000,
             subtype="FLOAT")
    return plan, audio


def render(recording, video, out):
    plan, audio = recording
    outcomes = {}
    result = render_recording(plan, audio, video, (WIDTH_PX, HEIGHT_PX), out, RECIPE, encode_workers=2,
                              on_clip=lambda clip, reason, detail: outcomes.update({clip.clip.start_s: (reason,
                                                                                                        detail)}))
    assert len(result.written) + len(result.rejected) == len(plan.clips) == len(outcomes) == 11
    return outcomes


def test_clips_past_the_end_of_a_short_video_are_too_short(recording, tmp_path):
    # 7 s of video (210 frames): a clip's last frame is at its start + 4.75 s, the last frame ends at 7.007 s.
    video = write_noise_video(tmp_path / "short.mp4", 210)
    outcomes = render(recording, video, tmp_path / "out")
    assert {start_s for start_s, (reason, _) in outcomes.items() if reason is None} == {0.0, 0.5, 1.0, 1.5, 2.0}
    for start_s, (reason, detail) in outcomes.items():
        if start_s > 2.0:
            assert reason == "video_too_short" and detail == f"{video}: the video ends before {start_s + 5:.1f} s"


def test_clips_after_a_decoding_failure_are_rejected_saying_where(recording, tmp_path):
    video = corrupt(write_noise_video(tmp_path / "corrupt.mp4", 300), 0.75)
    # Decoded as the renderer decodes it: how far the packets come before the error depends on the decoder's threads.
    grid = GridFrames(video, Fraction(4), (WIDTH_PX, HEIGHT_PX), threads=default_decode_threads())
    ticks = [tick for tick, _ in grid]
    assert grid.failure is not None, "this corruption must make the decoder fail"
    outcomes = render(recording, video, tmp_path / "out")
    written = sorted(start_s for start_s, (reason, _) in outcomes.items() if reason is None)
    rejected = sorted(start_s for start_s, (reason, _) in outcomes.items() if reason is not None)
    # Exactly the clips whose last frame (start + 4.75 s) the decoded ticks reached are written.
    assert written == [s for s in sorted(outcomes) if (s + 4.75) * 4 <= ticks[-1]] and written and rejected
    for start_s in rejected:
        reason, detail = outcomes[start_s]
        assert reason == "video_decode_failed"
        assert detail.startswith(f"{video}: decoding failed at {grid.failed_at_s:.2f} s, before {start_s + 5:.1f} s (")
