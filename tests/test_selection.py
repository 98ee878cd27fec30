"""The selection rule, vectorised, against a clip-by-clip reference implementation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.geometry import angles_to_unit, pinhole_project, to_view_frame, vertical_fov_deg
from curation.selection import EventTrack, View, onscreen_frame_flags, project_events
from curation.selection import select_windows, window_counts, window_starts
from tests.helpers import starss22_sample

H_FOV, W_PX, H_PX = 100.0, 256, 144
V_FOV = vertical_fov_deg(H_FOV, W_PX, H_PX)
CLASS_MAP = {0: "speech", 1: "speech", 9: "instrument"}


class Row:
    def __init__(self, frame, class_id, source_index, azimuth_deg, elevation_deg):
        self.frame, self.class_id, self.source_index = frame, class_id, source_index
        self.azimuth_deg, self.elevation_deg = azimuth_deg, elevation_deg


def reference_counts(rows, views, starts, window_frames):
    """One clip at a time, one event at a time: the obvious, slow rule."""
    counts = np.zeros((len(views), len(starts)), dtype=int)
    for v, view in enumerate(views):
        for w, start in enumerate(starts):
            frames = set()
            for r in rows:
                if not (start <= r.frame < start + window_frames) or r.class_id not in CLASS_MAP:
                    continue
                cam = to_view_frame(angles_to_unit(r.azimuth_deg, r.elevation_deg), view.view_azimuth_deg,
                                    view.view_elevation_deg)
                if pinhole_project(cam, H_FOV, V_FOV, W_PX, H_PX)[2]:
                    frames.add(r.frame)
            counts[v, w] = len(frames)
    return counts


def test_window_starts_match_the_recipe():
    starts = window_starts(600, 50, 5)  # a 60 s recording
    assert len(starts) == 111 and starts[0] == 0 and starts[-1] == 550
    assert len(window_starts(49, 50, 5)) == 0
    assert window_starts(50, 50, 5).tolist() == [0]
    assert window_starts(57, 50, 5).tolist() == [0, 5]


rows_strategy = st.lists(
    st.builds(
        Row,
        st.integers(0, 79),
        st.sampled_from([0, 1, 2, 9, 11]),
        st.integers(0, 2),
        st.integers(-180, 180),
        st.integers(-60, 60),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.integers(0, 12))
def test_vectorised_counts_equal_the_reference(rows, min_frames):
    views = [View(a, e) for a in (0.0, 90.0, -135.0, 170.0) for e in (0.0, 20.0)]
    track = EventTrack.from_rows(rows)
    starts = window_starts(80, 20, 5)
    proj = project_events(track, views, H_FOV, V_FOV, W_PX, H_PX)
    flags = onscreen_frame_flags(track, proj, CLASS_MAP, 80)
    counts = window_counts(flags["any"], starts, 20)
    np.testing.assert_array_equal(counts, reference_counts(rows, views, starts, 20))
    selection = select_windows(counts, starts, min_frames, None)
    np.testing.assert_array_equal(selection.kept, counts >= min_frames)


def test_per_class_flags_and_events_beyond_the_end():
    rows = [Row(0, 0, 0, 10, 0), Row(1, 9, 1, -20, 0), Row(2, 2, 0, 0, 0), Row(3, 1, 0, 170, 0), Row(99, 0, 0, 0, 0)]
    track = EventTrack.from_rows(rows)
    proj = project_events(track, [View(0.0)], H_FOV, V_FOV, W_PX, H_PX)
    flags = onscreen_frame_flags(track, proj, CLASS_MAP, 10)
    assert np.nonzero(flags["speech"][0])[0].tolist() == [0]  # the one behind (170°) is offscreen
    assert np.nonzero(flags["instrument"][0])[0].tolist() == [1]
    assert np.nonzero(flags["any"][0])[0].tolist() == [0, 1]  # class 2 is not of interest; frame 99 is beyond
    np.testing.assert_array_equal(proj.onscreen[0], [True, True, True, False, True])
    assert np.isnan(proj.x_px[0, 3]) and proj.x_px[0, 0] < W_PX / 2 < proj.x_px[0, 1]


def test_max_views_per_window_keeps_the_best_with_ties_in_recipe_order():
    counts = np.array([[40, 10], [45, 50], [45, 50], [39, 50]])  # 4 views × 2 windows
    starts = np.array([0, 5])
    sel = select_windows(counts, starts, 40, 2)
    # Window 0: views 1, 2 (45, 45) beat view 0 (40); view 3 does not qualify.
    # Window 1: views 1, 2, 3 all have 50: the first two in recipe order win.
    np.testing.assert_array_equal(sel.kept, [[False, False], [True, True], [True, True], [False, False]])
    np.testing.assert_array_equal(sel.qualifying, counts >= 40)
    assert sel.kept_pairs() == [(0, 1), (0, 2), (1, 1), (1, 2)]
    # k larger than the qualifying set keeps them all; k = None keeps every qualifying view.
    np.testing.assert_array_equal(select_windows(counts, starts, 40, 3).kept, counts >= 40)
    np.testing.assert_array_equal(select_windows(counts, starts, 40, None).kept, counts >= 40)


def test_real_starss22_files_select_reasonable_clips():
    sample = starss22_sample()
    from data_contracts.annotations import read_annotations

    views = [View(float(a)) for a in range(0, 360, 10)]
    total_kept = 0
    for path in sorted(sample.rglob("*.csv")):
        rows = read_annotations(path)
        track = EventTrack.from_rows(rows)
        n_frames = int(track.frame.max()) + 1
        starts = window_starts(n_frames, 50, 5)
        proj = project_events(track, views, H_FOV, V_FOV, W_PX, H_PX)
        flags = onscreen_frame_flags(track, proj, CLASS_MAP, n_frames)
        counts = window_counts(flags["any"], starts, 50)
        assert counts.min() >= 0 and counts.max() <= 50
        total_kept += int(select_windows(counts, starts, 40, None).kept.sum())
    assert total_kept > 0


def test_splits_by_source_folder():
    from curation.splits import assign_split

    rules = {"generation": ["dev-*"], "evaluation": ["eval*"]}
    assert assign_split("dev-train-sony", rules) == "generation"
    assert assign_split("dev-test-tau", rules) == "generation"
    assert assign_split("eval-synth", rules) == "evaluation"
    assert assign_split("eval", rules) == "evaluation"
    assert assign_split("other", rules) is None
    with pytest.raises(ValueError, match="several splits"):
        assign_split("dev-x", {"generation": ["dev-*"], "evaluation": ["*x"]})
