"""A plan's clip events are slices of shared per-recording arrays; the rows made from them must be exactly what a
one-event-at-a-time computation from the annotation gives, and the vectorised table must equal the row-by-row one.
A plan's clips are columns (PlannedClips): the ClipPlan objects read from them, and the manifest columns made
straight from them, must agree."""

import hashlib
import pickle
import warnings

import numpy as np
import pyarrow as pa
import pytest

from curation.geometry import angles_to_unit, pinhole_project, to_view_frame, wrap_azimuth_deg
from curation.plan import FUNNEL_STAGES, ClipEvents, PlannedClips, clips_columns, events_columns, plan_recording
from curation.selection import (
    EventTrack,
    clip_target_class,
    onscreen_frame_flags,
    project_events,
    select_windows,
    separate_views,
    space_clips_in_time,
    view_separation_deg,
    window_counts,
    window_starts,
)
from curation.synthetic.generator import synthetic_events
from data_contracts.annotations import read_annotations
from data_contracts.classes import CLASS_NAMES
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    EVENTS_SCHEMA,
    EventRow,
    columns_to_table,
    make_clip_id,
    rows_to_table,
    validate_clips,
    validate_events,
)
from data_contracts.recipe import Recipe, load_recipe
from tests.helpers import starss22_sample

RECIPE = load_recipe(overrides=["view_azimuths_deg=[0, 75, 150, -140, -60]", "view_elevations_deg=[0, 20]",
                               "min_onscreen_frames=5"])


@pytest.fixture(scope="module")
def plan():
    rows = synthetic_events(30.0, seed=11, recording_index=2)
    return rows, plan_recording("fold9_room1_mix001", "dev-train-synth", "generation", 30.0, rows, RECIPE)


def expected_rows(annotation_rows, clip) -> list[EventRow]:
    """The clip's events computed one annotation row at a time with the geometry module."""
    class_map = RECIPE.class_map_dict()
    out = []
    for r in annotation_rows:
        frame = r.frame - clip.start_frame
        if not 0 <= frame < RECIPE.window_frames:
            continue
        camera = to_view_frame(angles_to_unit(r.azimuth_deg, r.elevation_deg), clip.view_azimuth_deg,
                               clip.view_elevation_deg)
        forward, left, up = camera
        x_px, y_px, onscreen = pinhole_project(camera, RECIPE.h_fov_deg, RECIPE.v_fov_deg, RECIPE.content_width,
                                               RECIPE.content_height)
        onscreen = bool(onscreen)
        out.append(EventRow(
            clip_id=clip.clip_id, recording_id=clip.recording_id, frame=frame, class_id=r.class_id,
            class_name=CLASS_NAMES[r.class_id], target_class=class_map.get(r.class_id), source_index=r.source_index,
            azimuth_deg=float(np.rad2deg(np.arctan2(left, forward))),
            elevation_deg=float(np.rad2deg(np.arctan2(up, np.hypot(forward, left)))),
            onscreen=onscreen, x_px=float(x_px) if onscreen else None, y_px=float(y_px) if onscreen else None,
            recipe_hash=RECIPE.recipe_hash,
        ))
    return sorted(out, key=lambda e: (e.frame, e.class_id, e.source_index))


def test_clip_events_equal_a_row_by_row_computation(plan):
    annotation_rows, recording_plan = plan
    assert len(recording_plan.clips) > 20
    for plan_clip in recording_plan.clips[::3]:
        assert isinstance(plan_clip.events, ClipEvents)
        got, want = plan_clip.events.rows(), expected_rows(annotation_rows, plan_clip.clip)
        assert len(got) == len(want) == len(plan_clip.events) > 0
        for g, w in zip(got, want):
            assert (g.clip_id, g.frame, g.class_id, g.source_index, g.onscreen, g.target_class) == (
                w.clip_id, w.frame, w.class_id, w.source_index, w.onscreen, w.target_class)
            assert abs(wrap_azimuth_deg(g.azimuth_deg - w.azimuth_deg)) < 1e-9  # -180 and 180 are one direction
            assert g.elevation_deg == pytest.approx(w.elevation_deg, abs=1e-9)
            if w.onscreen:
                assert (g.x_px, g.y_px) == pytest.approx((w.x_px, w.y_px), abs=1e-6)
            else:
                assert g.x_px is None and g.y_px is None


def test_vectorised_events_table_equals_the_row_by_row_table(plan):
    _, recording_plan = plan
    clips = recording_plan.clips
    vectorised = columns_to_table(events_columns([c.events for c in clips]), EVENTS_SCHEMA)
    by_rows = rows_to_table([e for c in clips for e in c.events.rows()], EVENTS_SCHEMA)
    assert vectorised.num_rows == sum(len(c.events) for c in clips) > 500
    assert vectorised.equals(by_rows)


def test_metadata_rows_are_the_onscreen_events_of_interest(plan):
    _, recording_plan = plan
    checked = 0
    for plan_clip in recording_plan.clips:
        want = sorted((e.frame, e.class_id, e.x_px, e.y_px) for e in plan_clip.events.rows()
                      if e.onscreen and e.target_class is not None)
        assert plan_clip.events.metadata_rows() == want
        checked += len(want)
    assert checked > 100


def test_planned_clips_are_columns_that_agree_with_their_clip_plans(plan):
    annotation_rows, recording_plan = plan
    clips = recording_plan.clips
    assert isinstance(clips, PlannedClips)
    # Every id is make_clip_id's; the rows read one by one equal the columns made without them.
    for plan_clip in clips:
        row = plan_clip.clip
        assert row.clip_id == plan_clip.events.clip_id == make_clip_id(
            row.recording_id, row.start_frame, row.view_azimuth_deg, row.view_elevation_deg)
        view = recording_plan.views[plan_clip.view_index]
        assert (row.view_azimuth_deg, row.view_elevation_deg) == (view.view_azimuth_deg, view.view_elevation_deg)
    by_rows = rows_to_table([c.clip for c in clips], CLIPS_SCHEMA)
    from_columns = columns_to_table(clips_columns(clips), CLIPS_SCHEMA)
    assert from_columns.equals(by_rows) and from_columns.num_rows == len(clips) > 20
    validate_clips(from_columns)
    events = columns_to_table(events_columns(clips), EVENTS_SCHEMA)
    assert events.equals(columns_to_table(events_columns([c.events for c in clips]), EVENTS_SCHEMA))
    validate_events(events)


def test_planned_clips_slice_pickle_and_compare_as_clip_plans(plan):
    _, recording_plan = plan
    clips = recording_plan.clips
    every_third = clips[::3]
    assert isinstance(every_third, PlannedClips) and tuple(every_third) == tuple(clips)[::3]
    assert clips[-1] == tuple(clips)[-1] and len(clips[5:5]) == 0
    copy = pickle.loads(pickle.dumps(recording_plan))
    assert copy == recording_plan and tuple(copy.clips) == tuple(clips)
    assert columns_to_table(events_columns(copy.clips), EVENTS_SCHEMA).equals(
        columns_to_table(events_columns(clips), EVENTS_SCHEMA))


def rule_counts(annotation_rows, recording_plan, recipe):
    """The window starts, the per-window onscreen counts ("any" and per target class) and the selection rule's
    result for a plan's recording, from the selection module's functions alone."""
    track = EventTrack.from_rows(annotation_rows)
    projection = project_events(track, recording_plan.views, recipe.h_fov_deg, recipe.v_fov_deg,
                                recipe.content_width, recipe.content_height)
    flags = onscreen_frame_flags(track, projection, recipe.class_map_dict(), recording_plan.n_frames)
    starts = window_starts(recording_plan.n_frames, recipe.window_frames, recipe.hop_frames)
    counts = {name: window_counts(f, starts, recipe.window_frames) for name, f in flags.items()}
    selection = select_windows(counts["any"], starts, recipe.min_onscreen_frames, recipe.max_views_per_window)
    return starts, counts, selection


def test_the_plan_keeps_exactly_the_selection_rules_pairs_with_its_counts(plan):
    annotation_rows, recording_plan = plan
    starts, counts, selection = rule_counts(annotation_rows, recording_plan, RECIPE)
    pairs = selection.kept_pairs()
    assert [(int(starts[w]), v) for w, v in pairs] == [(c.clip.start_frame, c.view_index) for c in recording_plan.clips]
    assert [(int(counts["any"][v, w]), int(counts["speech"][v, w]), int(counts["instrument"][v, w])) for w, v in pairs
            ] == [(c.clip.onscreen_frames, c.clip.n_speech_frames, c.clip.n_instrument_frames)
                  for c in recording_plan.clips]
    assert (recording_plan.n_candidates, recording_plan.n_qualifying) == (counts["any"].size,
                                                                          int(selection.qualifying.sum()))
    # With the policies off, nothing is dropped after the selection rule.
    assert recording_plan.n_after_view_separation == recording_plan.n_after_clip_gap == len(recording_plan.clips)
    assert [c.clip.target_class for c in recording_plan.clips] == [
        clip_target_class(c.clip.n_speech_frames, c.clip.n_instrument_frames) for c in recording_plan.clips]


def policy_plan(annotation_rows, recipe):
    """A plan and the (view, window) masks its stages should give, from the selection module's functions."""
    recording_plan = plan_recording("fold9_room1_mix001", "dev-train-synth", "generation", 30.0, annotation_rows,
                                    recipe)
    starts, counts, selection = rule_counts(annotation_rows, recording_plan, recipe)
    separated = separate_views(counts["any"], selection.kept, view_separation_deg(recording_plan.views),
                               recipe.min_view_separation_deg)
    spaced = space_clips_in_time(separated, starts, recipe.min_clip_gap_frames)
    target = clip_target_class(counts["speech"], counts["instrument"])
    masks = dict(zip(FUNNEL_STAGES, (np.ones_like(spaced), selection.qualifying, separated, spaced)))
    return recording_plan, starts, target, masks


def test_the_plan_applies_view_separation_then_clip_gap_and_counts_each_stage_per_class():
    rows = synthetic_events(30.0, seed=11, recording_index=0)  # talkers and an instrument
    recipe = load_recipe(overrides=["view_azimuths_deg=[0, 30, 60, 75, 150, -140, -60]", "min_onscreen_frames=5",
                                    "min_view_separation_deg=50", "min_clip_gap_frames=12"])
    recording_plan, starts, target, masks = policy_plan(rows, recipe)
    view_index, window_index = np.nonzero(masks["after_clip_gap"])
    order = np.lexsort((view_index, window_index))
    assert [(c.clip.start_frame, c.view_index) for c in recording_plan.clips] == list(
        zip(starts[window_index[order]].tolist(), view_index[order].tolist()))
    assert [c.clip.target_class for c in recording_plan.clips] == (
        target[view_index[order], window_index[order]].tolist())
    totals = (recording_plan.n_candidates, recording_plan.n_qualifying, recording_plan.n_after_view_separation,
              recording_plan.n_after_clip_gap)
    assert totals == tuple(int(masks[stage].sum()) for stage in FUNNEL_STAGES)
    # Each policy drops something here, so the test shows its effect.
    assert totals[1] > totals[2] > totals[3] == len(recording_plan.clips) > 0
    for stage in FUNNEL_STAGES:
        assert recording_plan.class_counts[stage] == {
            name: int((masks[stage] & (target == name)).sum()) for name in ("speech", "instrument")}
    assert recording_plan.class_counts["after_clip_gap"]["instrument"] > 0
    # The clips' table carries each clip's target class, and validates.
    table = columns_to_table(clips_columns(recording_plan.clips), CLIPS_SCHEMA)
    validate_clips(table)
    assert table.column("target_class").to_pylist() == [c.clip.target_class for c in recording_plan.clips]
    assert table.equals(rows_to_table([c.clip for c in recording_plan.clips], CLIPS_SCHEMA))


def test_the_default_plan_of_the_real_files_is_unchanged_by_the_policies():
    """The clip ids the SAVGBench defaults gave on the 67 shared STARSS22 files before the policies existed (their
    count and a sha256 of the sorted ids), and the selection rule's prediction."""
    sample = starss22_sample()
    ids = []
    for path in sorted(sample.rglob("*.csv")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # released files repeat rows verbatim (DuplicateAnnotationWarning)
            rows = read_annotations(path)
        n_frames = max(r.frame for r in rows) + 1
        recording_plan = plan_recording(path.stem, path.parent.name, "generation", n_frames / 10, rows, Recipe())
        clip_ids = recording_plan.clips.clip_id.to_pylist()
        if len(ids) < 5000:  # the selection rule's own prediction, on the first recordings
            starts, kept = rule_kept(rows, recording_plan)
            window_index, view_index = np.nonzero(kept.T)
            assert clip_ids == [make_clip_id(path.stem, int(starts[w]), recording_plan.views[v].view_azimuth_deg,
                                             recording_plan.views[v].view_elevation_deg)
                                for w, v in zip(window_index, view_index)]
        ids.extend(clip_ids)
    assert len(ids) == 67317
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    assert digest == "e67f508334aade862f516e9d2f73bba77b0da93655b4a8c05289778f8fc6642a"


def rule_kept(rows, recording_plan):
    """The selection rule alone, with the defaults, on a plan's recording: window starts and (view, window) kept."""
    recipe = Recipe()
    track = EventTrack.from_rows(rows)
    projection = project_events(track, recording_plan.views, recipe.h_fov_deg, recipe.v_fov_deg,
                                recipe.content_width, recipe.content_height)
    flags = onscreen_frame_flags(track, projection, recipe.class_map_dict(), recording_plan.n_frames)
    starts = window_starts(recording_plan.n_frames, recipe.window_frames, recipe.hop_frames)
    counts = window_counts(flags["any"], starts, recipe.window_frames)
    return starts, select_windows(counts, starts, recipe.min_onscreen_frames, None).kept


def test_a_target_class_outside_the_recipe_counts_zero_frames():
    rows = synthetic_events(30.0, seed=11, recording_index=2)
    speech_only = load_recipe(overrides=["class_map={0: speech, 1: speech}", "min_onscreen_frames=5"])
    clips = plan_recording("fold9_room1_mix001", "dev-train-synth", "generation", 30.0, rows, speech_only).clips
    table = columns_to_table(clips_columns(clips), CLIPS_SCHEMA)
    assert len(clips) > 0 and set(table.column("n_instrument_frames").to_pylist()) == {0}
    assert table.column("n_speech_frames").to_pylist() == table.column("onscreen_frames").to_pylist()


def test_events_columns_come_in_the_forms_tables_are_built_from_without_a_python_loop(plan):
    _, recording_plan = plan
    columns = events_columns(recording_plan.clips)
    for name in ("frame", "class_id", "source_index", "azimuth_deg", "elevation_deg", "onscreen"):
        assert type(columns[name]) is np.ndarray and columns[name].dtype != object, name
    for name in ("x_px", "y_px"):
        assert isinstance(columns[name], np.ma.MaskedArray)
        np.testing.assert_array_equal(np.ma.getmaskarray(columns[name]), ~columns["onscreen"])
    for name in ("clip_id", "recording_id", "class_name", "target_class", "recipe_hash", "visually_confirmed"):
        assert isinstance(columns[name], pa.Array), name
    assert columns["visually_confirmed"].null_count == len(columns["visually_confirmed"])


def test_a_plan_without_clips_gives_empty_tables():
    rows = synthetic_events(30.0, seed=11, recording_index=2)
    none_kept = load_recipe(overrides=["class_map={11: speech}"])
    recording_plan = plan_recording("fold9_room1_mix001", "dev-train-synth", "generation", 30.0, rows, none_kept)
    assert len(recording_plan.clips) == 0 and not recording_plan.clips
    assert columns_to_table(clips_columns(recording_plan.clips), CLIPS_SCHEMA).num_rows == 0
    for clips in (recording_plan.clips, []):
        assert columns_to_table(events_columns(clips), EVENTS_SCHEMA).num_rows == 0


def test_events_of_two_recordings_come_recording_after_recording(plan):
    annotation_rows, recording_plan = plan
    other = plan_recording("fold9_room1_mix002", "dev-train-synth", "generation", 30.0, annotation_rows, RECIPE)
    mixed = [recording_plan.clips[0].events, other.clips[0].events, recording_plan.clips[1].events]
    table = columns_to_table(events_columns(mixed), EVENTS_SCHEMA)
    expected = [*mixed[0].rows(), *mixed[2].rows(), *mixed[1].rows()]
    assert table.equals(rows_to_table(expected, EVENTS_SCHEMA))
