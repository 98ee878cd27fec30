"""Random clip draws (`curation.sampling`): distinct, inside their recordings, uniform over all (recording, start
frame, view) clips, and the same stream for a seed however it is consumed."""

from collections import Counter

import numpy as np
import pytest

from curation.sampling import ClipDraws, DrawnClip, view_grid_deg

CORPUS = [("fold3_room21_mix001", 600), ("fold4_room2_mix003", 1800), ("short", 40), ("fold3_room4_mix010", 300)]
WINDOW = 50


def draws(seed: int = 20250305, corpus=CORPUS, azimuths=view_grid_deg(1.0), elevations=(0.0,)) -> ClipDraws:
    return ClipDraws(corpus, WINDOW, azimuths, elevations, seed)


def test_the_view_grid_steps_from_zero_below_360_degrees():
    assert len(view_grid_deg(1.0)) == 360 and view_grid_deg(1.0)[-1] == 359.0
    assert view_grid_deg(7.0) == tuple(7.0 * k for k in range(52))  # 357 is the last below 360
    assert view_grid_deg(90.0) == (0.0, 90.0, 180.0, 270.0)
    assert view_grid_deg(360.0) == (0.0,)
    for bad in (0.0, -5.0, 361.0):
        with pytest.raises(ValueError, match="view step"):
            view_grid_deg(bad)


def test_a_seed_gives_one_stream_however_it_is_taken_and_whatever_the_recordings_order():
    whole = draws().take(3000)
    pieces = draws()
    assert pieces.take(1) + pieces.take(999) + pieces.take(0) + pieces.take(2000) == whole
    assert draws(corpus=list(reversed(CORPUS))).take(3000) == whole
    assert draws(seed=1).take(3000) != whole


def test_draws_are_distinct_whole_windows_inside_their_recordings_on_the_view_grid():
    lengths = dict(CORPUS)
    clips = draws().take(20000)
    assert len(set(clips)) == len(clips)
    assert all(isinstance(clip, DrawnClip) for clip in clips)
    assert "short" not in {clip.recording_id for clip in clips}  # shorter than a window
    assert all(0 <= clip.start_frame and clip.start_frame + WINDOW <= lengths[clip.recording_id] for clip in clips)
    assert {clip.view_azimuth_deg for clip in clips} <= set(view_grid_deg(1.0))
    assert {clip.view_elevation_deg for clip in clips} == {0.0}


def test_recordings_are_drawn_by_their_start_frames_and_starts_and_views_uniformly():
    clips = draws(seed=7).take(40000)
    n_starts = {recording_id: n_frames - WINDOW + 1 for recording_id, n_frames in CORPUS if n_frames >= WINDOW}
    total = sum(n_starts.values())
    counts = Counter(clip.recording_id for clip in clips)
    for recording_id, n in n_starts.items():
        expected = len(clips) * n / total
        assert abs(counts[recording_id] - expected) < 5 * np.sqrt(expected), (recording_id, counts[recording_id])
    # Start frames of the longest recording in ten equal bins, and view azimuths in four quadrants: flat.
    long_starts = np.array([c.start_frame for c in clips if c.recording_id == "fold4_room2_mix003"])
    bins = np.histogram(long_starts, bins=10, range=(0, n_starts["fold4_room2_mix003"]))[0]
    assert bins.min() > 0.9 * bins.mean() and bins.max() < 1.1 * bins.mean(), bins
    quadrants = np.histogram([c.view_azimuth_deg for c in clips], bins=4, range=(0, 360))[0]
    assert quadrants.min() > 0.95 * quadrants.mean() and quadrants.max() < 1.05 * quadrants.mean(), quadrants


def test_a_small_corpus_gives_every_clip_once_then_refuses():
    corpus = [("a", WINDOW + 2), ("b", WINDOW)]  # 3 + 1 start frames
    stream = ClipDraws(corpus, WINDOW, (0.0, 180.0), (0.0, 20.0), seed=3)
    assert stream.capacity == (3 + 1) * 4
    clips = stream.take(16)
    expected = {DrawnClip(recording_id, start, azimuth, elevation)
                for recording_id, n_starts in (("a", 3), ("b", 1)) for start in range(n_starts)
                for azimuth in (0.0, 180.0) for elevation in (0.0, 20.0)}
    assert set(clips) == expected and len(clips) == 16
    with pytest.raises(ValueError, match="cannot draw 1 more clips: the recordings hold 16 distinct clips"):
        stream.take(1)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="unique"):
        ClipDraws([("a", 100), ("a", 200)], WINDOW, (0.0,), (0.0,), 0)
    with pytest.raises(ValueError, match="no view"):
        ClipDraws([("a", 100)], WINDOW, (), (0.0,), 0)
    with pytest.raises(ValueError, match="window"):
        ClipDraws([("a", 100)], 0, (0.0,), (0.0,), 0)
    with pytest.raises(ValueError, match="cannot draw -1"):
        draws().take(-1)


# ------------------------------------------------------------------------------------------------------------------
# A recording's drawn clips planned (`curation.plan.plan_drawn_clips`)

def test_drawn_clips_are_planned_as_the_exhaustive_rule_plans_the_same_window_and_view():
    from curation.plan import FUNNEL_STAGES, clips_columns, events_columns, plan_drawn_clips, plan_recording
    from curation.synthetic.generator import synthetic_events
    from data_contracts.recipe import load_recipe

    # Every (window, view) pair kept: the exhaustive plan holds each drawn clip, with its counts and events.
    recipe = load_recipe(overrides=["view_azimuths_deg=[0, 75, 150, -140, -60]", "view_elevations_deg=[0, 20]",
                                    "min_onscreen_frames=0", "hop_frames=1"])
    rows = synthetic_events(20.0, seed=5, recording_index=1)
    recording = ("fold9_room1_mix002", "dev-train-synth", "generation", 20.0, rows, recipe)
    everything = plan_recording(*recording)
    stream = ClipDraws([("fold9_room1_mix002", everything.n_frames)], recipe.window_frames,
                       recipe.view_azimuths_deg, recipe.view_elevations_deg, seed=11)
    drawn = stream.take(40)
    plan = plan_drawn_clips(*recording, drawn)

    assert (plan.n_candidates, plan.n_qualifying, len(plan.clips)) == (40, 40, 40)
    assert sum(plan.class_counts[FUNNEL_STAGES[-1]].values()) == 40
    ours, theirs = clips_columns(plan.clips), clips_columns(everything.clips)
    position = {clip_id: i for i, clip_id in enumerate(theirs["clip_id"].to_pylist())}
    ids = ours["clip_id"].to_pylist()
    assert sorted(ids) == sorted(make_id(clip) for clip in drawn)
    for name, values in ours.items():
        values = values.to_pylist() if hasattr(values, "to_pylist") else list(values)
        others = theirs[name].to_pylist() if hasattr(theirs[name], "to_pylist") else list(theirs[name])
        assert values == [others[position[clip_id]] for clip_id in ids], name
    ours_events = events_columns(plan.clips)
    theirs_events = events_columns(everything.clips)
    for clip_id in ids:
        mine = [i for i, c in enumerate(ours_events["clip_id"].to_pylist()) if c == clip_id]
        their = [i for i, c in enumerate(theirs_events["clip_id"].to_pylist()) if c == clip_id]
        assert len(mine) == len(their)
        for name in ours_events:
            column, other = ours_events[name], theirs_events[name]
            column = column.to_pylist() if hasattr(column, "to_pylist") else list(column)
            other = other.to_pylist() if hasattr(other, "to_pylist") else list(other)
            assert [column[i] for i in mine] == [other[i] for i in their], (clip_id, name)


def test_a_draw_outside_its_recording_or_repeated_is_refused():
    from curation.plan import plan_drawn_clips
    from curation.synthetic.generator import synthetic_events
    from data_contracts.recipe import Recipe

    rows = synthetic_events(10.0, seed=5, recording_index=1)  # 100 label frames
    recording = ("fold9_room1_mix002", "dev-train-synth", "generation", 10.0, rows, Recipe())
    inside = DrawnClip("fold9_room1_mix002", 50, 0.0, 0.0)
    assert len(plan_drawn_clips(*recording, [inside]).clips) == 1
    for bad in (DrawnClip("fold9_room1_mix002", 51, 0.0, 0.0), DrawnClip("other", 0, 0.0, 0.0)):
        with pytest.raises(ValueError, match="not a whole window"):
            plan_drawn_clips(*recording, [inside, bad])
    with pytest.raises(ValueError, match="drawn twice"):
        plan_drawn_clips(*recording, [inside, inside])


def make_id(clip: DrawnClip) -> str:
    from data_contracts.manifests import make_clip_id

    return make_clip_id(clip.recording_id, clip.start_frame, clip.view_azimuth_deg, clip.view_elevation_deg)
