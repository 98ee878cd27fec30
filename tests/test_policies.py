"""The de-duplication policies (view separation, clip gap), a clip's target class, the near-duplicate figure and
the clips that may fill a budget the de-duplication left short: properties of each pure function, and each against
a plain loop."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.geometry import angles_to_unit
from curation.selection import (
    View,
    clip_target_class,
    fill_from_removed,
    near_duplicate_counts,
    select_windows,
    separate_views,
    space_clips_in_time,
    view_separation_deg,
    window_starts,
)

TOLERANCE_DEG = 1e-9


def angle_deg(a: View, b: View) -> float:
    """Great-circle angle between two view centres, by the arc cosine (a plain reference)."""
    dot = float(angles_to_unit(a.view_azimuth_deg, a.view_elevation_deg)
                @ angles_to_unit(b.view_azimuth_deg, b.view_elevation_deg))
    return float(np.degrees(np.arccos(np.clip(dot, -1.0, 1.0))))


@st.composite
def windows_and_views(draw, max_views: int = 12, max_windows: int = 8):
    """Distinct views (azimuths on a 5° grid, a few elevations), counts per (view, window) and the rule's choice."""
    azimuths = draw(st.lists(st.integers(-36, 71).map(lambda k: 5.0 * k), min_size=1, max_size=max_views,
                             unique_by=lambda a: a % 360))
    elevations = draw(st.lists(st.sampled_from([0.0, 20.0, -30.0, 60.0]), min_size=1, max_size=2, unique=True))
    views = [View(a, e) for e in elevations for a in azimuths]
    n_windows = draw(st.integers(1, max_windows))
    counts = np.array(draw(st.lists(st.lists(st.integers(0, 12), min_size=n_windows, max_size=n_windows),
                                    min_size=len(views), max_size=len(views))))
    min_frames = draw(st.integers(0, 10))
    max_views_per_window = draw(st.one_of(st.none(), st.integers(1, 4)))
    kept = select_windows(counts, np.arange(n_windows) * 5, min_frames, max_views_per_window).kept
    return views, counts, kept


def reference_separation(views, counts, kept, separation):
    """One window at a time, one view at a time: the greedy rule as written in the recipe."""
    result = np.zeros_like(kept)
    for window in range(counts.shape[1]):
        ranked = sorted((v for v in range(len(views)) if kept[v, window]), key=lambda v: (-counts[v, window], v))
        chosen = []
        for view in ranked:
            if all(angle_deg(views[view], views[other]) >= separation - 1e-6 for other in chosen):
                chosen.append(view)
        result[chosen, window] = True
    return result


def test_view_separation_is_the_great_circle_angle():
    views = [View(0.0), View(10.0), View(350.0), View(180.0), View(0.0, 90.0), View(90.0, 45.0)]
    angles = view_separation_deg(views)
    assert angles.shape == (6, 6) and np.allclose(np.diag(angles), 0.0, atol=1e-12)
    assert angles[0, 1] == pytest.approx(10.0) and angles[1, 2] == pytest.approx(20.0)  # across 0°
    assert angles[0, 3] == pytest.approx(180.0) and angles[0, 4] == pytest.approx(90.0)
    assert angles[4, 5] == pytest.approx(45.0)
    np.testing.assert_allclose(angles, angles.T)


@settings(max_examples=150, deadline=None)
@given(windows_and_views(), st.floats(1.0, 180.0))
def test_view_separation_keeps_views_apart_and_drops_only_views_near_a_better_one(case, separation):
    views, counts, kept = case
    separated = separate_views(counts, kept, view_separation_deg(views), separation)
    assert not (separated & ~kept).any()  # only the rule's views
    for window in range(counts.shape[1]):
        chosen = np.flatnonzero(separated[:, window])
        for a, b in itertools.combinations(chosen, 2):
            assert angle_deg(views[a], views[b]) >= separation - 1e-6
        for dropped in np.flatnonzero(kept[:, window] & ~separated[:, window]):
            assert any(angle_deg(views[dropped], views[other]) < separation + 1e-6
                       and counts[other, window] >= counts[dropped, window] for other in chosen)
        if kept[:, window].sum() == 1:
            assert separated[:, window].sum() == 1
    np.testing.assert_array_equal(separated, reference_separation(views, counts, kept, separation))


@settings(max_examples=60, deadline=None)
@given(windows_and_views(), st.floats(0.01, 1.0))
def test_a_separation_below_the_view_spacing_drops_nothing(case, fraction):
    views, counts, kept = case
    angles = view_separation_deg(views)
    spacing = angles[~np.eye(len(views), dtype=bool)].min() if len(views) > 1 else 180.0
    np.testing.assert_array_equal(separate_views(counts, kept, angles, spacing * fraction), kept)
    if len(views) > 1:  # at exactly the spacing, too: angles within rounding of the limit count as at it
        np.testing.assert_array_equal(separate_views(counts, kept, angles, spacing), kept)


def test_view_separation_on_the_recipe_views_keeps_the_best_view_and_those_far_enough():
    views = [View(float(a)) for a in range(0, 360, 10)]
    counts = np.zeros((36, 2), dtype=int)
    counts[[0, 1, 2, 3, 4, 5, 6, 35], 0] = [45, 48, 45, 44, 42, 41, 40, 47]
    counts[[10, 11], 1] = [40, 40]  # a tie: recipe order
    kept = counts >= 40
    separated = separate_views(counts, kept, view_separation_deg(views), 50.0)
    # Window 0: 10° (48) first; 350°, 0°, 20°, 30°, 40° and 50° are within 50° of it; 60° is exactly 50° away.
    assert np.flatnonzero(separated[:, 0]).tolist() == [1, 6]
    assert np.flatnonzero(separated[:, 1]).tolist() == [10]
    assert not separate_views(counts, np.zeros_like(kept), view_separation_deg(views), 50.0).any()


def reference_gap(kept, starts, gap):
    result = np.zeros_like(kept)
    for view in range(kept.shape[0]):
        last = None
        for window in range(kept.shape[1]):
            if kept[view, window] and (last is None or starts[window] - last >= gap):
                result[view, window] = True
                last = starts[window]
    return result


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(1, 5), st.integers(1, 40), st.data())
def test_clip_gap_keeps_the_earliest_then_clips_at_least_the_gap_apart(n_views, n_windows, hop, gap, data):
    starts = np.arange(n_windows) * hop
    kept = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=n_windows, max_size=n_windows),
                                       min_size=n_views, max_size=n_views)))
    spaced = space_clips_in_time(kept, starts, gap)
    assert not (spaced & ~kept).any()
    for view in range(n_views):
        chosen = starts[spaced[view]]
        assert (np.diff(chosen) >= gap).all()
        if kept[view].any():
            assert spaced[view, np.flatnonzero(kept[view])[0]]  # the earliest clip of each view
        # Greedy: a dropped clip starts within the gap after a kept one of its view.
        for start in starts[kept[view] & ~spaced[view]]:
            assert ((start - chosen >= 0) & (start - chosen < gap)).any()
    np.testing.assert_array_equal(spaced, reference_gap(kept, starts, gap))
    # A gap up to the hop keeps every clip.
    np.testing.assert_array_equal(space_clips_in_time(kept, starts, hop), kept)
    np.testing.assert_array_equal(space_clips_in_time(kept, starts, 1), kept)


def test_clip_gap_on_the_recipe_grid():
    starts = window_starts(200, 50, 5)  # 0, 5, …, 150
    kept = np.zeros((2, len(starts)), dtype=bool)
    kept[0, :] = True
    kept[1, [3, 4, 9, 10, 20]] = True  # frames 15, 20, 45, 50, 100
    spaced = space_clips_in_time(kept, starts, 25)
    assert starts[spaced[0]].tolist() == [0, 25, 50, 75, 100, 125, 150]
    assert starts[spaced[1]].tolist() == [15, 45, 100]
    with pytest.raises(ValueError, match="window starts must increase"):
        space_clips_in_time(kept[:, :2], np.array([5, 0]), 25)


def test_target_class_is_the_class_with_more_frames_ties_speech():
    assert clip_target_class(40, 0) == "speech" and clip_target_class(10, 40) == "instrument"
    assert clip_target_class(25, 25) == "speech" and clip_target_class(0, 0) == "speech"
    assert isinstance(clip_target_class(1, 2), str)
    speech = np.array([40, 10, 25, 0, 3])
    instrument = np.array([0, 40, 25, 0, 4])
    assert clip_target_class(speech, instrument).tolist() == ["speech", "instrument", "speech", "speech",
                                                              "instrument"]
    assert clip_target_class(np.zeros(0, int), np.zeros(0, int)).shape == (0,)
    assert clip_target_class(np.ones((2, 3), int), np.full((2, 3), 2)).shape == (2, 3)


def reference_near_duplicates(recording_id, start_frame, azimuth_deg, elevation_deg, window_frames, h_fov_deg):
    n = len(start_frame)
    counts = np.zeros(n, dtype=int)
    for i, j in itertools.permutations(range(n), 2):
        overlap = max(0, window_frames - abs(start_frame[i] - start_frame[j]))
        angle = angle_deg(View(azimuth_deg[i], elevation_deg[i]), View(azimuth_deg[j], elevation_deg[j]))
        if recording_id[i] == recording_id[j] and overlap > window_frames / 2 and angle < h_fov_deg / 2 - 1e-6:
            counts[i] += 1
    return counts


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 30).map(lambda k: 5 * k),
                          st.integers(0, 35).map(lambda k: 10.0 * k), st.sampled_from([0.0, 20.0])),
                max_size=40, unique=True),
       st.sampled_from([20, 50, 51]), st.sampled_from([60.0, 100.0]))
def test_near_duplicates_count_overlapping_clips_of_nearby_views_of_one_recording(clips, window_frames, h_fov_deg):
    columns = [list(column) for column in zip(*clips)] if clips else [[], [], [], []]
    counts = near_duplicate_counts(*columns, window_frames, h_fov_deg)
    assert counts.dtype == np.int64 and counts.shape == (len(clips),)
    np.testing.assert_array_equal(counts, reference_near_duplicates(*columns, window_frames, h_fov_deg))
    assert counts.sum() % 2 == 0  # a near-duplicate pair counts on both sides


def test_near_duplicates_at_the_limits():
    # Same window, views 40° and exactly 50° apart (half of 100°): only the first pair counts. Starts 25 frames
    # apart overlap by exactly half a 50-frame window: no near duplicate.
    recording = ["r"] * 5 + ["s"]
    start = [0, 0, 0, 25, 20, 0]
    azimuth = [0.0, 40.0, 50.0, 0.0, 0.0, 0.0]
    counts = near_duplicate_counts(recording, start, azimuth, [0.0] * 6, 50, 100.0)
    assert counts.tolist() == [2, 3, 1, 1, 3, 0]


def test_near_duplicates_are_counted_in_blocks_of_bounded_memory():
    # More pairs than one block holds: the counts must still be every clip's.
    n_windows, views = 400, np.arange(0, 360, 10.0)
    start = np.repeat(np.arange(n_windows) * 5, len(views))
    azimuth = np.tile(views, n_windows)
    counts = near_duplicate_counts(np.zeros(start.size, dtype=int), start, azimuth, np.zeros(start.size), 50, 100.0)
    # Starts within ±20 frames (9 windows, fewer at the ends) × views within ±40° (9 views), minus the clip itself.
    windows_near = np.minimum(np.arange(n_windows), 4) + np.minimum(np.arange(n_windows)[::-1], 4) + 1
    np.testing.assert_array_equal(counts, np.repeat(windows_near * 9 - 1, len(views)))


def reference_fill(views, kept, candidates, order_key, starts, window_frames, h_fov_deg):
    """One pair at a time, in key order: taken when at most one clip kept or taken so far nearly repeats it."""
    chosen = {(v, w) for v, w in zip(*np.nonzero(kept))}
    taken = np.zeros_like(kept)
    pairs = sorted(((order_key[v, w], v, w) for v, w in zip(*np.nonzero(candidates & ~kept))))
    for _, view, window in pairs:
        repeats = sum(1 for v, w in chosen
                      if abs(starts[w] - starts[window]) < window_frames / 2
                      and angle_deg(views[v], views[view]) < h_fov_deg / 2 - 1e-6)
        if repeats <= 1:
            taken[view, window] = True
            chosen.add((view, window))
    return taken


def pair_columns(views, starts, mask):
    view_index, window_index = np.nonzero(mask)
    return (np.zeros(view_index.size, dtype=int), starts[window_index],
            [views[v].view_azimuth_deg for v in view_index], [views[v].view_elevation_deg for v in view_index])


@settings(max_examples=60, deadline=None)
@given(windows_and_views(max_views=10, max_windows=12), st.sampled_from([45.0, 50.0]), st.sampled_from([15, 25]),
       st.randoms(use_true_random=False))
def test_fill_takes_removed_clips_each_nearly_repeating_at_most_one(case, separation, gap, random):
    views, counts, candidates = case
    starts = np.arange(counts.shape[1]) * 5
    separated = separate_views(counts, candidates, view_separation_deg(views), separation)
    kept = space_clips_in_time(separated, starts, gap)
    order_key = np.array([[random.getrandbits(64) for _ in range(counts.shape[1])] for _ in views], dtype=np.uint64)
    taken = fill_from_removed(kept, candidates, order_key, starts, view_separation_deg(views), 50, 100.0)
    np.testing.assert_array_equal(taken, reference_fill(views, kept, candidates, order_key, starts, 50, 100.0))
    assert not (taken & kept).any() and not (taken & ~candidates).any()
    # Each pair taken nearly repeats at most one: the near-duplicate pairs grow by at most one per pair taken.
    before = near_duplicate_counts(*pair_columns(views, starts, kept), 50, 100.0).sum()
    after = near_duplicate_counts(*pair_columns(views, starts, kept | taken), 50, 100.0).sum()
    assert before <= after <= before + 2 * taken.sum()
    # A subset of the pairs taken keeps the bound (the budget takes some of them).
    subset = taken & (order_key % np.uint64(2) == 0)
    with_subset = near_duplicate_counts(*pair_columns(views, starts, kept | subset), 50, 100.0).sum()
    assert with_subset <= before + 2 * subset.sum()


def test_fill_on_the_recipe_grid_takes_the_ends_of_a_run_not_its_middle():
    # One view keeps windows 0, 25 and 50 (clip gap 25) of a run of qualifying windows 0..70: the windows between
    # two kept ones nearly repeat both; 55..70 nearly repeat only the clip at 50, and of those the first in key
    # order is taken, after which the rest nearly repeat two.
    views = [View(0.0)]
    starts = np.arange(15) * 5
    candidates = np.ones((1, 15), dtype=bool)
    kept = space_clips_in_time(candidates, starts, 25)
    assert np.flatnonzero(kept[0]).tolist() == [0, 5, 10]
    order_key = np.arange(15, dtype=np.uint64)[::-1].copy().reshape(1, 15)  # later windows first
    taken = fill_from_removed(kept, candidates, order_key, starts, view_separation_deg(views), 50, 100.0)
    assert np.flatnonzero(taken[0]).tolist() == [14]
    # Another view 50° away (never a near-repeat of view 0) fills on its own, from nothing kept: in key order each
    # window is taken while at most one taken window starts less than 25 frames from it: pairs, 25 frames apart.
    views = [View(0.0), View(50.0)]
    candidates = np.ones((2, 15), dtype=bool)
    kept = np.zeros((2, 15), dtype=bool)
    kept[0, [0, 5, 10]] = True
    order_key = np.tile(np.arange(15, dtype=np.uint64), (2, 1))
    taken = fill_from_removed(kept, candidates, order_key, starts, view_separation_deg(views), 50, 100.0)
    assert np.flatnonzero(taken[0]).tolist() == [11]
    assert np.flatnonzero(taken[1]).tolist() == [0, 1, 5, 6, 10, 11]
    with pytest.raises(ValueError, match="shapes differ"):
        fill_from_removed(kept, candidates[:, :3], order_key, starts, view_separation_deg(views), 50, 100.0)
