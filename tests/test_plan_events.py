"""A plan's clip events are slices of shared per-recording arrays; the rows made from them must be exactly what a
one-event-at-a-time computation from the annotation gives, and the vectorised table must equal the row-by-row one."""

import numpy as np
import pytest

from curation.geometry import angles_to_unit, pinhole_project, to_view_frame, wrap_azimuth_deg
from curation.plan import ClipEvents, events_columns, plan_recording
from curation.synthetic.generator import synthetic_events
from data_contracts.classes import CLASS_NAMES
from data_contracts.manifests import EVENTS_SCHEMA, EventRow, columns_to_table, rows_to_table
from data_contracts.recipe import load_recipe

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
