"""The Spatial AV-Align rule on hand-built cases: the ±40 px overlap with its boundary, the ±1 video frame tolerance
around round(f·4/10), boxes elsewhere, pooling; the vectorised rule against a plain loop; and the authors' rule
(`match_boxes_authors`: truncated pixels, frames 48–51, off-picture sounds, no boxes) on hand-made edge cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.metric.av_align import (AlignCounts, AuthorsRuleError, align_counts, authors_video_frame, match_boxes,
                                     match_boxes_authors, onscreen_mask, video_frame_of_label_frame)


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


def authors(sounds, boxes):
    """match_boxes_authors for sounds [(label_frame, x)] and boxes [(video_frame, x0, x1)], as a list of bools."""
    box_columns = [list(column) for column in zip(*boxes)] if boxes else [[], [], []]
    return match_boxes_authors([s[0] for s in sounds], [s[1] for s in sounds], *box_columns).tolist()


# (label frame, x, box (video frame, x0, x1), TP?) for the authors' rule: int(x1) >= int(x) - 40 and
# int(x0) <= int(x) + 40, boxes in video frames k - 1 ... k + 1 with k = round(f * 4 / 10), k = 20 -> 19.
AUTHORS_CASES = [
    (10, 100.0, (4, 50.0, 60.0), True),      # x1 exactly at x - 40
    (10, 100.0, (4, 50.0, 59.999), False),   # a fraction short: int(59.999) = 59
    (10, 100.9, (4, 50.0, 60.0), True),      # int(100.9) = 100: floats would say 60 < 60.9
    (10, 100.0, (4, 140.0, 150.0), True),    # x0 exactly at x + 40
    (10, 100.0, (4, 140.999, 150.0), True),  # a fraction past it still truncates to 140
    (10, 100.0, (4, 141.0, 150.0), False),
    (10, 99.99, (4, 50.0, 59.5), True),      # int(99.99) - 40 = 59 = int(59.5)
    (10, -0.5, (4, 40.0, 50.0), True),       # int(-0.5) = 0 (toward zero, not floor): 40 <= 40
    (10, -0.5, (4, 40.5, 50.0), True),
    (10, -0.5, (4, 41.0, 50.0), False),
    (10, -3.0, (4, 0.0, 10.0), True),        # off the picture (x < 0), scored like any other
    (10, -3.0, (4, 37.9, 50.0), True),
    (10, -3.0, (4, 38.0, 50.0), False),      # an FN, not skipped
    (10, 259.0, (4, 200.0, 256.0), True),    # off the picture (x > 256)
    (10, 259.0, (4, 0.0, 218.9), False),     # int(218.9) = 218 < 219
    (46, 100.0, (17, 90.0, 110.0), True),    # k = round(18.4) = 18
    (47, 100.0, (17, 90.0, 110.0), False),   # k = round(18.8) = 19
    (47, 100.0, (18, 90.0, 110.0), True),
    (48, 100.0, (18, 90.0, 110.0), True),    # k = round(19.2) = 19
    (48, 100.0, (17, 90.0, 110.0), False),
    (49, 100.0, (18, 90.0, 110.0), True),    # k = round(19.6) = 20 -> 19: frames 18-19
    (49, 100.0, (17, 90.0, 110.0), False),
    (50, 100.0, (18, 90.0, 110.0), True),    # k = 20 -> 19
    (51, 100.0, (18, 90.0, 110.0), True),    # k = round(20.4) = 20 -> 19
    (51, 100.0, (19, 90.0, 110.0), True),
    (51, 100.0, (17, 90.0, 110.0), False),
]


@pytest.mark.parametrize(("label_frame", "x_px", "box", "expected"), AUTHORS_CASES)
def test_authors_rule_edge_cases(label_frame, x_px, box, expected):
    assert authors([(label_frame, x_px)], [box]) == [expected]


def test_authors_rule_scores_two_rows_of_one_frame_separately():
    # Two classes in label frame 10, one at the person and one across the picture; classes are not compared.
    assert authors([(10, 50.0), (10, 200.0)], [(4, 40.0, 60.0)]) == [True, False]


def test_authors_rule_makes_every_row_of_a_clip_without_boxes_an_fn():
    # No boxes at all: every row is an FN before any frame is looked at, so even a frame past the clip is not an error.
    assert authors([(10, 100.0), (49, -3.0), (60, 259.0)], []) == [False, False, False]
    assert align_counts(authors([(10, 100.0), (49, -3.0)], [])) == AlignCounts(0, 2)
    assert authors([], [(4, 0.0, 256.0)]) == []


def test_authors_video_frames_clamp_20_and_refuse_the_rest():
    assert authors_video_frame(np.arange(52)).tolist() == [min(int(np.round(f * 4 / 10)), 19) for f in range(52)]
    assert authors_video_frame([48, 49, 50, 51]).tolist() == [19, 19, 19, 19]
    with pytest.raises(AuthorsRuleError, match="label frame 52 is video frame 21, outside the clip's 0–19"):
        authors_video_frame([10, 52])
    with pytest.raises(AuthorsRuleError, match="label frame -2 is video frame -1"):
        authors_video_frame([-2])
    with pytest.raises(AuthorsRuleError, match="label frame 52"):
        authors([(52, 100.0)], [(4, 0.0, 256.0)])


def test_authors_rule_refuses_a_non_finite_pixel():
    with pytest.raises(ValueError, match="x_px nan is not a finite pixel"):
        authors([(10, np.nan)], [(4, 0.0, 256.0)])
