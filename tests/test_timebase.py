"""The time base: round trips between label frames, seconds, audio samples and video frames, and proof that each
conversion is the same arithmetic as the inline expression it replaced (the old expressions are written out here
verbatim, with 0.1 for the label frame)."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import data_contracts
from curation.audit import page
from curation.metric import av_align
from curation.plan import label_frame_count
from curation.render import grid_rate_hz
from curation.synthetic import generator
from data_contracts import classes, timebase
from data_contracts.recipe import Recipe
from data_contracts.timebase import (
    LABEL_FRAME_FRACTION_S,
    LABEL_FRAME_S,
    LABEL_FRAMES_PER_S,
    grid_tick_of_label_frame,
    label_frame_of_time,
    label_frame_of_video_frame,
    label_frame_start_s,
    label_frames_covering,
    label_frames_to_fraction_s,
    label_frames_to_manifest_s,
    nearest_index_at_rate,
    nearest_label_frames,
    samples_per_label_frame,
    video_frame_of_label_frame,
    whole_label_frames,
)

VIDEO_FPS = (20, 25, Fraction(30000, 1001), 30)
AUDIO_RATES_HZ = (16000, 24000, 44100, 48000)

# Label frames of up to ~55 hours; durations and times in seconds over the same span.
label_frames = st.integers(min_value=0, max_value=2_000_000)
durations_s = st.floats(min_value=0.0, max_value=200_000.0, allow_nan=False, allow_infinity=False)
video_fps = st.sampled_from(VIDEO_FPS)
audio_rates_hz = st.sampled_from(AUDIO_RATES_HZ)


def boundary_times_s(n_label_frames: int = 100_000) -> np.ndarray:
    """Every label-frame boundary f·0.1 below n_label_frames and the floats just either side of it: where a
    different rounding or tolerance would show."""
    on = np.arange(n_label_frames) * 0.1
    return np.concatenate([on, np.nextafter(on, np.inf), np.nextafter(on, -np.inf)[1:], on + 0.05, on + 0.0999999])


# ----------------------------------------------------------------------------------------------------------------
# Constants and public names


def test_label_frame_is_the_float_0_1_and_exactly_one_tenth_as_a_fraction():
    assert LABEL_FRAME_S == 0.1
    assert LABEL_FRAMES_PER_S == 10
    assert LABEL_FRAME_FRACTION_S == Fraction(1, 10) == Fraction(0.1).limit_denominator(1000)


def test_older_names_are_the_time_base_objects():
    assert classes.LABEL_FRAME_S is data_contracts.LABEL_FRAME_S is timebase.LABEL_FRAME_S
    assert label_frame_count is whole_label_frames
    assert generator.n_label_frames is label_frames_covering
    assert generator.label_frame_of_time is label_frame_of_time
    assert generator.label_frame_of_video_frame is page.label_frame_of_video_frame is label_frame_of_video_frame
    assert av_align.video_frame_of_label_frame is video_frame_of_label_frame


# ----------------------------------------------------------------------------------------------------------------
# Round trips


@given(label_frames)
def test_label_frame_to_seconds_to_label_frame(f):
    assert int(label_frame_of_time(label_frame_start_s(f))) == f
    assert int(label_frame_of_time(label_frames_to_manifest_s(f))) == f
    assert whole_label_frames(label_frame_start_s(f)) == f
    assert whole_label_frames(label_frames_to_manifest_s(f)) == f
    assert label_frames_covering(label_frame_start_s(f)) == max(1, f)
    assert nearest_label_frames(label_frame_start_s(f)) == f
    assert label_frames_to_fraction_s(f) == Fraction(f, 10)


@given(label_frames, st.floats(min_value=0.001, max_value=0.099))
def test_a_time_inside_a_label_frame_belongs_to_it(f, offset_s):
    time_s = label_frame_start_s(f) + offset_s
    assert int(label_frame_of_time(time_s)) == f
    # A partial frame is covered but not whole.
    assert whole_label_frames(time_s) == f
    assert label_frames_covering(time_s) == f + 1


@settings(max_examples=300)
@given(audio_rates_hz, st.integers(min_value=0, max_value=24000 * 3600 * 4))
def test_audio_sample_to_label_frame(rate_hz, sample):
    samples_per_frame = samples_per_label_frame(rate_hz)
    assert samples_per_frame == rate_hz // 10
    assert int(label_frame_of_time(sample / rate_hz)) == sample // samples_per_frame


@given(audio_rates_hz, label_frames)
def test_label_frame_to_audio_sample_and_back(rate_hz, f):
    first_sample = nearest_index_at_rate(label_frame_start_s(f), rate_hz)
    assert first_sample == f * samples_per_label_frame(rate_hz)
    assert nearest_index_at_rate(label_frames_to_manifest_s(f), rate_hz) == first_sample
    assert int(label_frame_of_time(first_sample / rate_hz)) == f
    assert int(label_frame_of_time((first_sample - 1) / rate_hz)) == f - 1 or f == 0


@settings(max_examples=300)
@given(video_fps, st.integers(min_value=0, max_value=30 * 3600 * 24))
def test_video_frame_shows_the_label_frame_its_start_time_falls_in(fps, k):
    # Exact: floor(k / fps / (1/10)) in rational arithmetic.
    assert label_frame_of_video_frame(k, fps) == math.floor(Fraction(k) * 10 / Fraction(fps))
    assert label_frame_of_video_frame(k, float(fps)) == label_frame_of_video_frame(k, fps)


@settings(max_examples=300)
@given(video_fps, label_frames)
def test_label_frame_to_video_frame_and_back(fps, f):
    k = int(video_frame_of_label_frame(f, fps))
    # round(f · fps / 10), halves to even (Python's round of the exact rational).
    assert k == round(Fraction(f) * Fraction(fps) / 10)
    # The video frame nearest the start of label frame f starts at most half a video frame before it, so it shows
    # f or, when it starts just before the boundary, f − 1; at whole multiples of 10 fps it is exactly f.
    shown = label_frame_of_video_frame(k, fps)
    assert shown in (f - 1, f)
    if Fraction(fps) % 10 == 0:
        assert shown == f
    # The first video frame of label frame f is at most one video frame after the nearest one.
    first = math.ceil(Fraction(f, 10) * Fraction(fps))
    assert label_frame_of_video_frame(first, fps) == f
    assert first - 1 <= k <= first


def test_video_frames_of_a_label_frame_range_at_each_rate():
    for fps in VIDEO_FPS:
        shown = [label_frame_of_video_frame(k, fps) for k in range(int(100 * Fraction(fps)))]
        assert shown[0] == 0 and shown[-1] == 999
        assert all(b - a in (0, 1) for a, b in zip(shown, shown[1:]))
        # Every label frame is shown by ⌊fps / 10⌋ or ⌈fps / 10⌉ video frames.
        counts = np.bincount(shown)
        per_frame = Fraction(fps) / 10
        assert set(counts.tolist()) <= {math.floor(per_frame), math.ceil(per_frame)}


def test_grid_ticks_of_window_starts_are_exact():
    recipe = Recipe()
    rate = grid_rate_hz(recipe)
    for start_frame in range(0, 10_000, recipe.hop_frames):
        tick = grid_tick_of_label_frame(start_frame, rate)
        assert Fraction(tick) == Fraction(start_frame, 10) * rate


# ----------------------------------------------------------------------------------------------------------------
# The same arithmetic as the expressions replaced


def old_plan_label_frame_count(duration_s):  # curation/plan.py
    return int(np.floor(duration_s / 0.1 + 1e-6))


def old_discover_n_frames(duration_s):  # tasks/discover.py, inspect_recording
    return int(duration_s / 0.1 + 1e-6)


def old_generator_n_label_frames(duration_s):  # curation/synthetic/generator.py
    return max(1, math.ceil(duration_s / 0.1 - 1e-9))


def old_generator_label_frame_of_time(time_s):
    return np.floor(np.asarray(time_s, dtype=np.float64) / 0.1 + 1e-9).astype(np.int64)


def old_generator_label_frame_of_video_frame(video_frame_index, fps):
    return int(old_generator_label_frame_of_time(video_frame_index / float(fps)))


def old_page_label_frame_of_video_frame(video_frame, fps):  # curation/audit/page.py
    return int(math.floor(video_frame / fps / 0.1 + 1e-9))


def old_localize_frame_of_window(times_s):  # curation/metric/localize.py
    return np.floor(times_s / 0.1 + 1e-9).astype(np.int64)


def old_av_align_video_frame_of_label_frame(label_frame, video_fps):  # curation/metric/av_align.py
    return np.rint(np.asarray(label_frame, dtype=np.float64) * float(video_fps) * 0.1).astype(np.int64)


@given(durations_s)
def test_whole_label_frames_is_plan_and_discover_arithmetic(duration_s):
    assert whole_label_frames(duration_s) == old_plan_label_frame_count(duration_s) == old_discover_n_frames(duration_s)
    assert whole_label_frames(np.float64(duration_s)) == old_plan_label_frame_count(np.float64(duration_s))


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_whole_label_frames_is_plan_arithmetic_for_any_float(duration_s):
    assert whole_label_frames(duration_s) == old_plan_label_frame_count(duration_s)


@given(durations_s)
def test_label_frames_covering_is_generator_arithmetic(duration_s):
    assert label_frames_covering(duration_s) == old_generator_n_label_frames(duration_s)


@given(st.floats(min_value=-100.0, max_value=100.0, allow_nan=False))
def test_nearest_label_frames_is_generator_arithmetic(duration_s):
    assert nearest_label_frames(duration_s) == int(round(duration_s / 0.1))


def test_duration_conversions_on_every_boundary():
    times_s = boundary_times_s(20_000)
    for duration_s in times_s.tolist():
        assert whole_label_frames(duration_s) == old_plan_label_frame_count(duration_s)
        assert whole_label_frames(duration_s) == old_discover_n_frames(duration_s)
        assert label_frames_covering(duration_s) == old_generator_n_label_frames(duration_s)
        assert nearest_label_frames(duration_s) == int(round(duration_s / 0.1))


def test_label_frame_of_time_is_generator_and_localiser_arithmetic():
    times_s = boundary_times_s()
    expected = old_generator_label_frame_of_time(times_s)
    np.testing.assert_array_equal(label_frame_of_time(times_s), expected)
    np.testing.assert_array_equal(label_frame_of_time(times_s), old_localize_frame_of_window(times_s))
    assert label_frame_of_time(times_s).dtype == np.int64
    # Audio samples as the generator places them: sample n at n / rate.
    for rate_hz in AUDIO_RATES_HZ:
        sample_times_s = np.arange(rate_hz * 30) / rate_hz
        np.testing.assert_array_equal(label_frame_of_time(sample_times_s),
                                      old_generator_label_frame_of_time(sample_times_s))
    # STFT window centres as the localiser gets them (scipy: float64 times).
    centres_s = (1024 / 2 + np.arange(20_000) * 240) / 24000
    np.testing.assert_array_equal(label_frame_of_time(centres_s), old_localize_frame_of_window(centres_s))


@given(st.floats(min_value=0.0, max_value=1e5, allow_nan=False))
def test_label_frame_of_time_of_a_scalar_is_generator_arithmetic(time_s):
    assert label_frame_of_time(time_s) == old_generator_label_frame_of_time(time_s)
    assert type(label_frame_of_time(time_s)) is type(old_generator_label_frame_of_time(time_s))


def test_label_frame_of_video_frame_is_generator_and_page_arithmetic():
    for fps in VIDEO_FPS:
        for k in range(0, 40_000):
            shown = label_frame_of_video_frame(k, fps)
            assert shown == old_generator_label_frame_of_video_frame(k, fps)
            assert shown == old_page_label_frame_of_video_frame(k, float(fps))
    # The audit page derives fps from a clip's frame count and duration.
    for n_video_frames, duration_s in ((20, 5.0), (125, 5.0), (150, 5.0), (149, 4.9)):
        fps = n_video_frames / np.float64(duration_s)
        for k in range(n_video_frames):
            assert label_frame_of_video_frame(k, fps) == old_page_label_frame_of_video_frame(k, fps)


def test_video_frame_of_label_frame_is_av_align_arithmetic():
    frames = np.arange(200_000)
    for fps in (*VIDEO_FPS, 4, 4.0, 29.97):
        np.testing.assert_array_equal(video_frame_of_label_frame(frames, fps),
                                      old_av_align_video_frame_of_label_frame(frames, fps))
        assert video_frame_of_label_frame(frames, fps).dtype == np.int64
    assert video_frame_of_label_frame(7, 4).shape == ()


def test_seconds_of_label_frames_are_plan_and_generator_arithmetic():
    frames = np.arange(200_000)
    # Generator: label-frame start times; audit page: event times; bit for bit.
    np.testing.assert_array_equal(label_frame_start_s(frames), frames * 0.1)
    # Plan: the manifests' start_s and duration_s.
    for f in range(0, 200_000, 7):
        assert label_frames_to_manifest_s(f) == round(f * 0.1, 6)
    assert label_frames_to_manifest_s(3) == 0.3 != 3 * 0.1


@given(label_frames, st.sampled_from((5, 1, 2, 3, 10, 50)), st.sampled_from((4, 10, 20, 25, 30, 60)))
def test_grid_ticks_are_render_arithmetic(start_frame, hop_frames, fps):
    recipe = Recipe(hop_frames=hop_frames, fps=fps)
    rate = grid_rate_hz(recipe)
    old_hop_s = Fraction(recipe.hop_frames) * Fraction(0.1).limit_denominator(1000)
    assert label_frames_to_fraction_s(hop_frames) == old_hop_s
    old_start_tick = int(Fraction(start_frame) * Fraction(0.1).limit_denominator(1000) * rate)
    assert grid_tick_of_label_frame(start_frame, rate) == old_start_tick


@given(label_frames, audio_rates_hz)
def test_first_sample_of_a_clip_is_render_arithmetic(start_frame, rate_hz):
    start_s = label_frames_to_manifest_s(start_frame)
    assert nearest_index_at_rate(start_s, rate_hz) == int(round(start_s * rate_hz))


@given(durations_s, audio_rates_hz, video_fps)
def test_recording_lengths_are_generator_arithmetic(duration_s, rate_hz, fps):
    assert max(1, nearest_index_at_rate(duration_s, rate_hz)) == max(1, int(round(duration_s * rate_hz)))
    assert generator.n_video_frames(duration_s, fps) == max(1, round(duration_s * float(fps)))


def test_samples_per_label_frame_is_localiser_arithmetic():
    for rate_hz in (*AUDIO_RATES_HZ, 8000, 22050, 11025, 96000, 1, 4, 5, 15):
        assert samples_per_label_frame(rate_hz) == int(round(rate_hz * 0.1))
    assert samples_per_label_frame(24000) == 2400


@pytest.mark.parametrize(
    ("duration_s", "whole", "covering"),
    [(0.0, 0, 1), (0.05, 0, 1), (0.1, 1, 1), (0.3, 3, 3), (0.30001, 3, 4), (4.99999, 49, 50), (5.0, 50, 50),
     (20.0, 200, 200), (60.0, 600, 600), (299.9, 2999, 2999), (3600.0, 36000, 36000), (48001 / 24000, 20, 21)],
)
def test_whole_and_covering_label_frames_of_named_durations(duration_s, whole, covering):
    assert whole_label_frames(duration_s) == whole
    assert label_frames_covering(duration_s) == covering
