"""The Spatial AV-Align rule on hand-built cases: the ±40 px overlap with its boundary, the ±1 video frame tolerance
around round(f·4/10), boxes elsewhere, pooling; and the vectorised rule against a plain loop."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.metric.av_align import AlignCounts, align_counts, match_boxes, onscreen_mask, video_frame_of_label_frame


def matched(label_frame, x_px, boxes, fps=4):
    """match_boxes for one sound against boxes given as (video_frame, x0, x1)."""
    frames, x0, x1 = (np.array(column, dtype=float) for column in zip(*boxes)) if boxes else ([], [], [])
    return bool(match_boxes([label_frame], [x_px], frames, x0, x1, video_fps=fps)[0])


def test_label_frames_map_to_video_frames_as_round_of_f_times_4_over_10():
    frames = np.arange(50)
    assert video_frame_of_label_frame(frames, 4).tolist() == [round(f * 4 / 10) for f in frames]
    assert video_frame_of_label_frame([0, 1, 2, 3, 12, 13, 49], 4).tolist() == [0, 0, 1, 1, 5, 5, 20]


@pytest.mark.parametrize(("x0", "x1", "expected"), [
    (150.0, 170.0, True),    # box right at the sound
    (60.0, 100.0, True),     # x1 touches x - 40: touching counts as overlapping
    (60.0, 99.999, False),   # just short of it
    (180.0, 200.0, True),    # x0 touches x + 40
    (180.001, 200.0, False),
    (0.0, 256.0, True),      # a box spanning the interval
])
def test_horizontal_overlap_with_x_plus_minus_40_and_its_boundary(x0, x1, expected):
    assert matched(10, 140.0, [(4, x0, x1)]) is expected


@pytest.mark.parametrize(("video_frame", "expected"), [(3, True), (4, True), (5, True), (2, False), (6, False)])
def test_one_video_frame_tolerance_either_side(video_frame, expected):
    # Label frame 10 is video frame round(4.0) = 4.
    assert matched(10, 100.0, [(video_frame, 90.0, 110.0)]) is expected


def test_tolerance_is_about_the_rounded_frame():
    # Label frame 13: 13·0.4 = 5.2 → video frame 5; frames 4..6 match, 7 does not.
    assert matched(13, 100.0, [(6, 95.0, 105.0)])
    assert not matched(13, 100.0, [(7, 95.0, 105.0)])
    assert matched(13, 100.0, [(4, 95.0, 105.0)])
    assert not matched(13, 100.0, [(3, 95.0, 105.0)])


def test_false_negative_when_the_box_is_elsewhere_or_there_is_none():
    assert not matched(20, 40.0, [(8, 200.0, 250.0)])
    assert not matched(20, 40.0, [])
    # Any one matching box among others is enough.
    assert matched(20, 40.0, [(8, 200.0, 250.0), (9, 10.0, 30.0)])


def test_other_frame_rates_use_the_same_rounding():
    # At 25 fps label frame 3 is video frame round(7.5) = 8 (half to even, as Python's round).
    assert video_frame_of_label_frame([3], 25).tolist() == [round(3 * 25 / 10)] == [8]
    assert matched(3, 100.0, [(9, 90.0, 110.0)], fps=25)
    assert not matched(3, 100.0, [(10, 90.0, 110.0)], fps=25)


def test_counts_score_and_pooling():
    counts = align_counts([True, True, False])
    assert (counts.tp, counts.fn) == (2, 1)
    assert counts.score == pytest.approx(2 / 3)
    assert math.isnan(align_counts([]).score)
    pooled = AlignCounts.pooled([AlignCounts(9, 1), AlignCounts(0, 10)])
    # Pooled over sounds, not the mean of clip scores (which would be 0.45).
    assert (pooled.tp, pooled.fn, pooled.score) == (9, 11, 0.45)
    assert AlignCounts.pooled([AlignCounts(1, 0), AlignCounts(3, 6)]).score == pytest.approx(0.4)


def test_only_localisations_inside_the_picture_are_scored():
    mask = onscreen_mask([-0.1, 0.0, 128.0, 256.0, 256.5, np.nan, np.inf], 256)
    assert mask.tolist() == [False, True, True, True, False, False, False]


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="label_frame has 2 values but x_px has 1"):
        match_boxes([1, 2], [3.0], [], [], [], video_fps=4)
    with pytest.raises(ValueError, match="box arrays differ"):
        match_boxes([1], [3.0], [0, 1], [0.0], [1.0], video_fps=4)


sounds = st.lists(st.tuples(st.integers(0, 49), st.floats(0, 256)), max_size=12)
boxes = st.lists(st.tuples(st.integers(0, 19), st.floats(0, 256), st.floats(0, 80)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(sounds, boxes)
def test_vectorised_rule_agrees_with_a_plain_loop(sound_list, box_list):
    box_frames = [b[0] for b in box_list]
    x0 = [b[1] for b in box_list]
    x1 = [b[1] + b[2] for b in box_list]
    got = match_boxes([s[0] for s in sound_list], [s[1] for s in sound_list], box_frames, x0, x1, video_fps=4)
    expected = [
        any(abs(k - round(f * 4 / 10)) <= 1 and a <= x + 40 and b >= x - 40 for k, a, b in zip(box_frames, x0, x1))
        for f, x in sound_list
    ]
    assert got.tolist() == expected
