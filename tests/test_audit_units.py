"""The audit's pure parts (time and letterbox arithmetic, world directions, tables, near-duplicates, the funnel
figure, sampling, cell drawing) and the CLI's refusal of an output without manifests."""

import math

import numpy as np
import pandas as pd

from curation.audit.page import (
    DETECTION_COLOUR,
    GROUP_COLOURS,
    class_balance,
    class_funnel_figure,
    contact_sheet,
    draw_clip_cell,
    label_frame_of_video_frame,
    letterbox_top_px,
    near_duplicate_summary,
    near_duplicates,
    near_duplicates_figure,
    rejects_by_reason,
    sample_clips,
    world_directions,
)
from curation.geometry import angles_to_unit, relative_angles_deg, vertical_fov_deg
from flows.cli import main


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def test_video_frame_k_at_4_fps_shows_label_frame_floor_2_5_k():
    assert [label_frame_of_video_frame(k, 4.0) for k in range(20)] == [math.floor(2.5 * k) for k in range(20)]


def test_letterbox_top_bar_is_56_px_for_the_savgbench_frame():
    assert letterbox_top_px(256, 256, 100.0, vertical_fov_deg(100.0, 256, 144)) == 56


def test_world_directions_undo_the_view_rotation_at_any_elevation():
    rng = np.random.default_rng(5)
    world_azimuth_deg = rng.uniform(-180, 180, 40)
    world_elevation_deg = rng.uniform(-60, 60, 40)
    views = [(30.0, 0.0), (-120.0, 20.0), (200.0, -35.0), (0.0, 89.0)]
    clips, events = [], []
    for index, (view_azimuth_deg, view_elevation_deg) in enumerate(views):
        clip_id = f"rec_f{index * 5:05d}_v{index}"
        clips.append({"clip_id": clip_id, "start_frame": index * 5, "view_azimuth_deg": view_azimuth_deg,
                      "view_elevation_deg": view_elevation_deg})
        rel_azimuth_deg, rel_elevation_deg = relative_angles_deg(world_azimuth_deg, world_elevation_deg,
                                                                 view_azimuth_deg, view_elevation_deg)
        for frame in range(40):
            # One source, one event per recording frame: clip `index` covers recording frames index*5 + frame.
            recording_frame = index * 5 + frame
            if recording_frame < 40:
                events.append({"clip_id": clip_id, "recording_id": "rec", "frame": frame, "class_id": 1,
                               "class_name": "Male speech", "target_class": "speech", "source_index": 0,
                               "azimuth_deg": rel_azimuth_deg[recording_frame],
                               "elevation_deg": rel_elevation_deg[recording_frame]})
    directions = world_directions(pd.DataFrame(events), pd.DataFrame(clips))
    assert len(directions) == 40  # each recording frame once, whichever clips hold it
    np.testing.assert_allclose(directions["time_s"], np.arange(40) * 0.1)
    # Compared as unit vectors, so that -180° and 180° agree.
    recovered = angles_to_unit(directions["azimuth_deg"], directions["elevation_deg"])
    np.testing.assert_allclose(recovered, angles_to_unit(world_azimuth_deg, world_elevation_deg), atol=1e-9)
    assert (directions["group"] == "speech").all()


def test_class_balance_lists_every_split_and_the_ratio():
    clips = pd.DataFrame({
        "split": pd.Categorical(["generation"] * 3),
        "n_speech_frames": [40, 0, 12],
        "n_instrument_frames": [0, 45, 40],
    })
    balance = class_balance(clips).set_index("split")
    assert list(balance.index) == ["generation", "evaluation", "all"]
    assert balance.loc["generation", "speech clips"] == 2
    assert balance.loc["generation", "instrument clips"] == 2
    assert balance.loc["generation", "speech label frames"] == 52
    assert balance.loc["generation", "speech : instrument"] == "1.00 : 1"
    assert balance.loc["evaluation", "clips"] == 0
    assert balance.loc["evaluation", "speech : instrument"] == "n/a"


def test_near_duplicates_count_overlapping_clips_of_nearby_views_per_recording_and_split():
    # 5 s windows (50 label frames), 100° field of view: starts < 25 frames apart and views < 50° apart repeat.
    clips = pd.DataFrame({
        "split": pd.Categorical(["generation"] * 5 + ["evaluation"]),
        "recording_id": ["a", "a", "a", "a", "a", "b"],
        "start_frame": [0, 20, 30, 0, 0, 0],
        "duration_s": [5.0, 5.0, 5.0, 5.0, 10.0, 5.0],
        "view_azimuth_deg": [0.0, 30.0, 0.0, 120.0, 0.0, 0.0],
        "view_elevation_deg": [0.0] * 6,
        "h_fov_deg": [100.0] * 6,
    }, index=[10, 11, 12, 13, 14, 15])
    counts = near_duplicates(clips)
    # 0 and 30 start 30 frames apart (no); 20 overlaps both, 30° away (yes); 120° is far; the 10 s clip (another
    # window) and recording b are compared with no one here.
    assert counts.to_dict() == {10: 1, 11: 2, 12: 1, 13: 0, 14: 0, 15: 0}
    summary = near_duplicate_summary(clips, counts).set_index("split")
    assert summary.loc["generation"].tolist() == [5, "0.80", 2, 2]
    assert summary.loc["evaluation"].tolist() == [1, "0.00", 1, 0]
    assert summary.loc["all"].tolist() == [6, "0.67", 3, 2]
    assert near_duplicate_summary(clips.iloc[:0], counts.iloc[:0]).loc[0, "mean near-duplicates"] == "n/a"
    figure = near_duplicates_figure(clips, counts)
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == ["generation (5 clips)", "generation mean 0.80", "evaluation (1 clips)", "evaluation mean 0.00"]


def test_class_funnel_figure_draws_a_line_per_class_with_gaps_for_unknown_counts():
    stages = ["candidates", "qualifying", "kept"]
    rows = [{"stage": stage, "generation speech": 100 // (i + 1), "generation instrument": "unknown" if i else 9,
             "evaluation speech": 0, "evaluation instrument": 4 - i, "all": "unknown"}
            for i, stage in enumerate(stages)]
    figure = class_funnel_figure(rows)
    generation, evaluation = figure.axes
    speech, instrument = generation.get_lines()
    assert speech.get_ydata().tolist() == [100.0, 50.0, 33.0]
    assert instrument.get_ydata()[0] == 9.0 and np.isnan(instrument.get_ydata()[1:]).all()
    assert [line.get_ydata().tolist() for line in evaluation.get_lines()] == [[0.0, 0.0, 0.0], [4.0, 3.0, 2.0]]
    assert [label.get_text() for label in generation.get_xticklabels()] == stages


def test_rejects_by_reason_counts_and_gives_an_example():
    rejects = pd.DataFrame({
        "stage": pd.Categorical(["discover", "render", "render"]),
        "recording_id": ["a", "b", "b"],
        "clip_id": [None, "b_f00000", "b_f00005"],
        "reason": pd.Categorical(["no_video", "clipped", "clipped"]),
        "detail": ["no video file", "peak 1.2", "peak 1.1"],
    })
    table = rejects_by_reason(rejects)
    assert table[["stage", "reason", "count", "example"]].values.tolist() == [
        ["render", "clipped", 2, "b_f00000"], ["discover", "no_video", 1, "a"]]
    assert rejects_by_reason(rejects.iloc[:0]).empty


def test_sample_is_deterministic_and_independent_of_row_order():
    clips = pd.DataFrame({"clip_id": [f"rec{i % 7}_f{i:05d}" for i in range(100)], "value": range(100)})
    first = sample_clips(clips, 12)
    again = sample_clips(clips.sample(frac=1.0, random_state=3), 12)
    assert list(first["clip_id"]) == list(again["clip_id"]) == sorted(first["clip_id"])
    assert first["clip_id"].str[:4].nunique() > 3  # spread over recordings, not the first rows


def test_cell_marks_events_with_an_open_ring_and_draws_boxes():
    frame = np.full((256, 256, 3), 128, np.uint8)
    events = pd.DataFrame({"x_px": [100.0, 200.0], "y_px": [70.0, 30.0], "class_name": ["Male speech", "Bell"],
                           "target_class": pd.Categorical(["speech", None], categories=["speech", "instrument"])})
    detections = pd.DataFrame({"x0": [20.0], "y0": [10.0], "x1": [60.0], "y1": [100.0], "class_name": ["person"],
                               "score": [0.87]})
    cell = draw_clip_cell(frame, events, detections, 56, ["header"], ["footer"]).astype(int)
    for x_px, y_px, group in ((100, 70 + 56, "speech"), (200, 30 + 56, "other")):
        # The centre is left as it was, so whatever the marker points at stays visible.
        assert (cell[y_px - 2 : y_px + 3, x_px - 2 : x_px + 3] == 128).all()
        ring = cell[y_px - 8 : y_px + 9, x_px - 8 : x_px + 9]
        assert (np.abs(ring - rgb(GROUP_COLOURS[group])).max(axis=2) < 30).sum() > 20
    left_edge = cell[10 + 56 + 20 : 100 + 56, 20]
    assert (np.abs(left_edge - rgb(DETECTION_COLOUR)).max(axis=1) < 30).all()
    assert (cell[56 + 60, 40] == 128).all()  # inside the box: untouched


def test_contact_sheet_tiles_row_by_row():
    cells = [np.full((4, 6, 3), value, np.uint8) for value in (10, 20, 30)]
    sheet, origins = contact_sheet(cells, columns=2, gap_px=1)
    assert sheet.shape == (9, 13, 3)
    assert origins == [(0, 0), (7, 0), (0, 5)]
    for cell, (x0, y0) in zip(cells, origins):
        assert (sheet[y0 : y0 + 4, x0 : x0 + 6] == cell).all()


def test_cli_audit_refuses_an_output_without_manifests(tmp_path, capsys):
    assert main(["audit", str(tmp_path)]) == 2
    assert "no manifests" in capsys.readouterr().err
