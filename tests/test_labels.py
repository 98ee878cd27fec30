"""`label_format: dcase2025`: per-clip CSVs with the header frame,class,source,azimuth,distance,onscreen, integer
values, azimuth relative to the view folded to the front half, onscreen by the exact pinhole test, distance from the
6-column annotations (empty for the 5-column ones). Hand-computed cases, then the files a render writes."""

import math
from fractions import Fraction

import numpy as np
import pytest

from curation.labels import DCASE2025_HEADER, clip_label_csv, dcase2025_csv, dcase2025_rows, fold_azimuth_to_front_deg
from curation.plan import plan_recording
from curation.synthetic.generator import SynthConfig, write_recording
from data_contracts.annotations import AnnotationRow
from data_contracts.errors import ContractError
from data_contracts.recipe import Recipe, load_recipe
from tasks.ledger import render_key
from tests.test_audio_outputs import curate
from tests.test_reruns import ROW

VIEW_AZIMUTH_DEG = 20.0
RECIPE = load_recipe(overrides=[f"view_azimuths_deg=[{VIEW_AZIMUTH_DEG:g}]", "window_frames=10", "hop_frames=10",
                               "min_onscreen_frames=1", "label_format=dcase2025"])
HALF_V_FOV_DEG = RECIPE.v_fov_deg / 2  # 33.83° at 16:9 and h_fov 100°


@pytest.mark.parametrize(("azimuth_deg", "folded_deg"), [
    (30, 30), (-30, -30), (100, 80), (-100, -80), (170, 10), (-170, -10),
    (90, 90), (-90, -90), (180, 0), (-180, 0), (0, 0), (135.5, 44.5),
])
def test_azimuth_folds_to_the_front_half(azimuth_deg, folded_deg):
    assert fold_azimuth_to_front_deg(azimuth_deg) == pytest.approx(folded_deg, abs=1e-12)


def world_azimuth_deg(relative_deg: float) -> float:
    """The world azimuth that sits at `relative_deg` from the view, in [-180, 180)."""
    return (relative_deg + VIEW_AZIMUTH_DEG + 180) % 360 - 180


# (relative azimuth, elevation, distance) of the events in label frame 0, source index = position, class 0; and what
# the label row must say (folded azimuth, onscreen).
CASES = [
    ((30, 0, 150.0), (30, 1)),
    ((-30, 0, 149.6), (-30, 1)),
    ((100, 0, 200.4), (80, 0)),
    ((-100, 0, 201.0), (-80, 0)),
    ((170, 0, 300.0), (10, 0)),
    ((-170, 0, 310.0), (-10, 0)),
    # The frame's edges: h_fov / 2 = 50° to the left is on the border, hence onscreen; 50.5° is outside.
    ((50, 0, 100.0), (50, 1)),
    ((-50.5, 0, 100.0), (-50, 0)),
    # v_fov / 2 up at the view's centre is on the top border; half a degree higher is outside.
    ((0, HALF_V_FOV_DEG, 100.0), (0, 1)),
    ((0, HALF_V_FOV_DEG + 0.5, 100.0), (0, 0)),
    # Near the corner: |azimuth| < 50° and |elevation| < 33.8°, but d_u/d_f = tan 30°/cos 45° = 0.816 > tan 33.8°
    # = 0.670: outside the picture. Comparing raw angles with the field of view would call it onscreen.
    ((45, 30, 100.0), (45, 0)),
]


def annotations(with_distance: bool) -> list[AnnotationRow]:
    rows = []
    for source_index, ((relative_deg, elevation_deg, distance_cm), _) in enumerate(CASES):
        rows.append(AnnotationRow(0, 0, source_index, world_azimuth_deg(relative_deg), elevation_deg,
                                  distance_cm if with_distance else None))
    # Frames 1-9: one talker at the centre, so that the window qualifies; frame 3 adds a door (class 7) behind.
    rows += [AnnotationRow(frame, 1, 0, VIEW_AZIMUTH_DEG, 0.0, 120.0 if with_distance else None)
             for frame in range(1, 10)]
    rows.append(AnnotationRow(3, 7, 2, world_azimuth_deg(-135.0), -10.0, 410.0 if with_distance else None))
    return rows


def only_clip(rows, recipe=RECIPE):
    plan = plan_recording("fold1_room1_mix001", "dev-train-synth", "generation", 1.0, rows, recipe)
    assert len(plan.clips) == 1
    return plan.clips[0]


def test_dcase2025_rows_hand_computed_folded_azimuth_onscreen_at_the_edges_and_distance():
    rows = dcase2025_rows(only_clip(annotations(True)).events)
    first = [row for row in rows if row[0] == 0]
    expected = [(0, 0, source_index, folded, round(distance), onscreen)
                for source_index, ((_, _, distance), (folded, onscreen)) in enumerate(CASES)]
    assert first == expected
    # 149.6 cm and 200.4 cm round to whole centimetres.
    assert [row[4] for row in first[:4]] == [150, 150, 200, 201]
    later = [row for row in rows if row[0] > 0]
    assert later[:3] == [(1, 1, 0, 0, 120, 1), (2, 1, 0, 0, 120, 1), (3, 1, 0, 0, 120, 1)]
    # The door at -135° from the view is folded to -45°, and is offscreen (behind).
    assert (3, 7, 2, -45, 410, 0) in later and len(later) == 10
    assert all(type(value) is int for row in rows for value in row)


def test_dcase2025_csv_has_the_header_integers_and_an_empty_distance_for_5_column_annotations():
    six = dcase2025_csv(only_clip(annotations(True)).events).splitlines()
    assert six[0] == "frame,class,source,azimuth,distance,onscreen" == ",".join(DCASE2025_HEADER)
    assert six[1:4] == ["0,0,0,30,150,1", "0,0,1,-30,150,1", "0,0,2,80,200,0"]
    five = dcase2025_csv(only_clip(annotations(False)).events).splitlines()
    assert five[0] == six[0] and len(five) == len(six) == 1 + len(CASES) + 10
    assert five[1:4] == ["0,0,0,30,,1", "0,0,1,-30,,1", "0,0,2,80,,0"]
    for five_line, six_line in zip(five[1:], six[1:]):
        fields = six_line.split(",")
        assert five_line == ",".join([*fields[:4], "", fields[5]])


def test_onscreen_is_the_events_manifests_onscreen_and_azimuth_its_folded_relative_azimuth():
    clip = only_clip(annotations(True))
    events = clip.events.rows()
    labels = dcase2025_rows(clip.events)
    assert [(event.frame, event.class_id, event.source_index) for event in events] == [row[:3] for row in labels]
    assert [int(event.onscreen) for event in events] == [row[5] for row in labels]
    assert [round(float(fold_azimuth_to_front_deg(event.azimuth_deg))) for event in events] == [
        row[3] for row in labels]


def test_savgbench_format_is_unchanged_and_is_the_default():
    clip = only_clip(annotations(True))
    text = clip_label_csv(clip.events, "savgbench")
    lines = text.splitlines()
    # The onscreen events of interest only (class 0 and 1), no header, pixels with 2 decimals.
    assert lines[0].startswith("0,0,") and len(lines) == 4 + 9
    # Sorted by frame, class, x: the event at the left edge (+50°) at x = 0, then +30° at 128 − 128·tan 30°/tan 50°.
    x_px = 128 - math.tan(math.radians(30)) * 128 / math.tan(math.radians(50))
    assert lines[:2] == ["0,0,0.00,72.00", f"0,0,{x_px:.2f},72.00"]
    with pytest.raises(ValueError, match="label_format 'yaml'"):
        clip_label_csv(clip.events, "yaml")


def test_label_format_in_the_recipe_hash_and_render_key_only_when_not_the_default():
    assert Recipe().label_format == "savgbench"
    assert load_recipe(overrides=["label_format=savgbench"]).recipe_hash == Recipe().recipe_hash == "50a07c00b6a56c5e"
    dcase = load_recipe(overrides=["label_format=dcase2025"])
    assert dcase.recipe_hash != Recipe().recipe_hash
    assert render_key(ROW, dcase) != render_key(ROW, Recipe())
    with pytest.raises(ContractError, match="recipe: label_format='dcase': expected one of savgbench, dcase2025"):
        load_recipe(overrides=["label_format=dcase"])


def test_rounding_is_to_the_nearest_degree():
    assert np.rint(fold_azimuth_to_front_deg([29.6, -100.4, 170.5])).tolist() == [30, -80, 10]


@pytest.mark.slow
def test_a_render_with_label_format_dcase2025_writes_these_files(tmp_path):
    source, out = tmp_path / "source", tmp_path / "out"
    rows = annotations(True)
    config = SynthConfig(n_recordings=1, duration_s=2.0, seed=4, width_px=512, height_px=256, fps=Fraction(20))
    write_recording(source, "dev-train-synth", "dev", "fold1_room1_mix001", rows, config, seed=7)
    recipe, summary, clips = curate(source, out, [f"view_azimuths_deg=[{VIEW_AZIMUTH_DEG:g}]", "window_frames=10",
                                                  "hop_frames=10", "min_onscreen_frames=1", "label_format=dcase2025"])
    assert recipe == RECIPE and summary.n_clips == len(clips) == 1
    clip = only_clip(rows)
    assert clips[0]["metadata_path"] == clip.clip.metadata_path
    assert clip.clip.metadata_path == "metadata_dev/fold1_room1_mix001_f00000_az+020_el+00.csv"
    written = (out / clip.clip.metadata_path).read_text()
    assert written == dcase2025_csv(clip.events)
    assert written.splitlines()[:2] == ["frame,class,source,azimuth,distance,onscreen", "0,0,0,30,150,1"]
