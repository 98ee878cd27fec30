"""Recordings as real ones come, odd (`tests/odd_recordings.py`): a late first frame, holes in the video, a video
longer than its audio, an annotation row past the end, a stream corrupted in the middle, recording ids that cannot
start a clip file name. One run of the curate flow's body (`run_curation`, plain task caller) over one source folder
holding one case per recording; the manifests are checked value by value, and the clips' pixels against the
annotations: each clip frame shows the label frame of the last source frame at or before its time."""

import itertools
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_contracts.annotations import read_annotations
from data_contracts.recipe import load_recipe
from tests.helpers import MANIFEST_NAMES
from tests.odd_recordings import (
    BAD_IDS,
    CORRUPTED,
    FRAME_TIME_BASE,
    GAP,
    GAP_S,
    GOOD,
    LATE_START,
    LATE_START_S,
    LONG_GAP,
    ROW_PAST_END,
    VIDEO_LONGER,
    VIDEO_LONGER_BY_S,
    VIDEO_MUCH_LONGER,
    OddSource,
    block_difference,
    build_odd_source,
    clip_content,
    expected_clip_content,
    frame_times_s,
    label_images,
    recording_files,
    shown_frame,
)

pytestmark = pytest.mark.slow

# Four views and a 1 s hop: a few dozen clips per recording, the talker onscreen in the views at 0° and 90°.
RECIPE = load_recipe(overrides=["view_azimuths_deg=[0, 90, 180, 270]", "hop_frames=10", "min_onscreen_frames=10"])
# The run must end: a decoder or a pipe stuck on the corrupted stream would hang it. Far above its usual time.
RUN_BOUND_S = 600
# Two H.264 generations (the source's crf 20, the clip's) leave at most ~10 levels in an 8×8 block
# (`block_difference`); a talker moved, come or gone leaves 50 or more.
SAME_PICTURE = 20.0
DIFFERENT_PICTURE = 3 * SAME_PICTURE

# recording id → (status, reason) in the recordings manifest.
EXPECTED_STATUS = {
    GOOD: ("ok", None),
    LATE_START: ("ok", None),
    GAP: ("ok", None),
    LONG_GAP: ("rejected", "video_gaps"),
    VIDEO_LONGER: ("ok", None),
    VIDEO_MUCH_LONGER: ("rejected", "duration_mismatch"),
    ROW_PAST_END: ("ok", None),
    **{recording_id: ("rejected", "bad_recording_id") for recording_id in BAD_IDS},
}
FRAME_PERIOD_S = float(FRAME_TIME_BASE)


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> OddSource:
    return build_odd_source(tmp_path_factory.mktemp("odd-source"))


@pytest.fixture(scope="module")
def curated(odd, tmp_path_factory):
    """One run over the odd source, in a thread so that a hang fails the module instead of blocking it."""
    from flows.pipeline import PlainTaskCaller, run_curation

    out = tmp_path_factory.mktemp("odd-out")
    ended = {}

    def run():
        try:
            with PlainTaskCaller(2) as caller:
                ended["run"] = run_curation(str(odd.root), str(out), RECIPE, caller)
        except Exception as exc:  # re-raised in the test's thread
            ended["error"] = exc

    thread = threading.Thread(target=run, name="odd-recordings-run", daemon=True)
    thread.start()
    thread.join(RUN_BOUND_S)
    if thread.is_alive():
        pytest.fail(f"the curate run over {odd.root} has not ended after {RUN_BOUND_S} s "
                    f"({recording_files(odd.root, CORRUPTED).mp4} is corrupted from {float(odd.corrupted_from_s)} s)")
    if "error" in ended:
        raise ended["error"]
    tables = {name: pq.read_table(out / "manifests" / f"{name}.parquet").to_pandas() for name in MANIFEST_NAMES}
    return out, tables


def recording_row(tables, recording_id: str) -> dict:
    rows = tables["recordings"][tables["recordings"]["recording_id"] == recording_id]
    assert len(rows) == 1, (recording_id, rows)
    return rows.iloc[0].to_dict()


def clips_of(tables, recording_id: str):
    clips = tables["clips"]
    return clips[clips["recording_id"] == recording_id]


def windows(frame) -> set[tuple[int, float, float]]:
    """The (start_frame, view_azimuth_deg, view_elevation_deg) of each clip or clip reject, whatever its recording."""
    return set(zip(frame["start_frame"], frame["view_azimuth_deg"], frame["view_elevation_deg"]))


def planned_windows(tables, recording_id: str) -> set[tuple[int, float, float]]:
    """The windows of a recording's clips and clip rejects (ids `<recording_id>_f<start>_az<az>_el<el>`)."""
    rejects = tables["rejects"]
    rejected = rejects[(rejects["recording_id"] == recording_id) & rejects["clip_id"].notna()]
    return windows(clips_of(tables, recording_id)) | {clip_window(recording_id, clip_id)
                                                      for clip_id in rejected["clip_id"]}


def clip_window(recording_id: str, clip_id: str) -> tuple[int, float, float]:
    start, azimuth, elevation = clip_id.removeprefix(f"{recording_id}_").split("_")
    return int(start.removeprefix("f")), float(azimuth.removeprefix("az")), float(elevation.removeprefix("el"))


def clip_ticks_s(start_frame: int) -> list[Fraction]:
    """The times (s, exact) of a clip's frames."""
    return [Fraction(start_frame, 10) + Fraction(k, RECIPE.fps) for k in range(RECIPE.frames_per_clip)]


def decode_rgb(mp4: Path) -> list[np.ndarray]:
    with av.open(str(mp4)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def compare_clip_frames(out: Path, tables, odd: OddSource, recording_id: str) -> list[dict]:
    """Every frame of the recording's clips against the annotations: its difference to the view of the label
    frame that the source frame shown at its time shows (`shown_frame` over the frames the recording kept), and
    whether that view differs from the one the complete video would give there (`discriminating`)."""
    images = label_images(recording_files(odd.root, recording_id).csv)
    compared = []
    for clip in clips_of(tables, recording_id).itertuples():
        frames = decode_rgb(out / clip.video_path)
        assert len(frames) == RECIPE.frames_per_clip, clip.clip_id
        for k, (frame, tick_s) in enumerate(zip(frames, clip_ticks_s(clip.start_frame))):
            shown = shown_frame(odd.kept_frames[recording_id], tick_s)
            complete = shown_frame(odd.kept_frames[GOOD], tick_s)
            expected, otherwise = (expected_clip_content(images, source_frame, clip.view_azimuth_deg,
                                                         clip.view_elevation_deg, RECIPE)
                                   for source_frame in (shown, complete))
            compared.append({"clip_id": clip.clip_id, "k": k, "tick_s": tick_s, "shown": shown,
                             "difference": block_difference(clip_content(frame, RECIPE), expected),
                             "discriminating": block_difference(expected, otherwise) > DIFFERENT_PICTURE})
    return compared


def assert_frames_show_their_labels(compared: list[dict]) -> None:
    assert compared, "no clip frame to compare"
    wrong = [c for c in compared if c["difference"] > SAME_PICTURE]
    assert not wrong, f"{len(wrong)} of {len(compared)} clip frames differ from their label frame: {wrong[:5]}"


def test_the_odd_recordings_are_what_they_claim(odd):
    """Read back with PyAV and soundfile alone: every kept frame at its original 29.97 fps timestamp, the first
    frame or the frames of a hole left out, the audio cut, the row appended, the stream unreadable from the
    corruption on and intact before it."""
    kept = {recording_id: frame_times_s(recording_files(odd.root, recording_id).mp4)
            for recording_id in odd.kept_frames if recording_id != CORRUPTED}
    for recording_id, times_s in kept.items():
        assert times_s == [index * FRAME_TIME_BASE for index in odd.kept_frames[recording_id]], recording_id
    assert odd.kept_frames[GOOD] == list(range(300))
    assert odd.kept_frames[LATE_START] == list(range(9, 300))  # 9 · 1001/30000 = 0.3003 s
    assert odd.kept_frames[GAP] == [*range(120), *range(135, 300)]  # none from 4.004 s to 4.471 s
    assert odd.kept_frames[LONG_GAP] == [*range(150), *range(189, 300)]  # none from 5.005 s to 6.273 s
    assert {odd.video_s[recording_id] for recording_id in odd.kept_frames} == {Fraction(1001, 100)}
    assert {recording_id: odd.audio_s[recording_id] for recording_id in (GOOD, VIDEO_LONGER, VIDEO_MUCH_LONGER)} \
        == {GOOD: 10, VIDEO_LONGER: Fraction(96, 10), VIDEO_MUCH_LONGER: Fraction(85, 10)}
    rows = read_annotations(recording_files(odd.root, ROW_PAST_END).csv)
    assert rows[-1] == odd.appended_row and rows[:-1] == read_annotations(recording_files(odd.root, GOOD).csv)
    assert odd.appended_row.frame == 100
    corrupted = recording_files(odd.root, CORRUPTED).mp4
    assert odd.corrupted_from_s == 180 * FRAME_TIME_BASE  # 6.006 s
    decoded = []
    with pytest.raises(av.InvalidDataError), av.open(str(corrupted)) as container:
        for frame in container.decode(video=0):
            decoded.append(frame.pts * container.streams.video[0].time_base)
    assert decoded == [index * FRAME_TIME_BASE for index in range(180)]


def test_the_recordings_manifest_lists_every_recording_with_its_status(curated):
    _, tables = curated
    got = {row.recording_id: (row.status, None if pd.isna(row.reason) else row.reason)
           for row in tables["recordings"].itertuples()}
    corrupted = got.pop(CORRUPTED)
    assert got == EXPECTED_STATUS
    assert corrupted in {("ok", None), ("rejected", "video_decode_failed")}
    for recording_id, (status, reason) in EXPECTED_STATUS.items():
        if status == "rejected":
            mine = tables["rejects"][tables["rejects"]["recording_id"] == recording_id]
            assert list(mine["reason"]) == [reason] and mine["clip_id"].isna().all(), mine
            assert not len(clips_of(tables, recording_id))
        else:
            assert len(clips_of(tables, recording_id)) > 0, recording_id


def test_ids_that_cannot_start_a_clip_file_name_are_refused_at_discovery(curated):
    out, tables = curated
    rejects = tables["rejects"]
    for recording_id in BAD_IDS:
        mine = rejects[rejects["recording_id"] == recording_id]
        assert list(mine["stage"]) == ["discover"] and list(mine["reason"]) == ["bad_recording_id"], mine
        assert recording_id in mine["detail"].iloc[0]
        assert recording_row(tables, recording_id)["source_folder"] == "dev-train-synth"
        assert not [path for path in out.rglob("*") if recording_id in path.name]


def test_a_complete_recording_is_curated_from_t_0_with_nothing_dropped(curated, odd):
    out, tables = curated
    row = recording_row(tables, GOOD)
    assert row["video_start_s"] == 0.0 and row["video_gaps"] == 0 and row["annotation_rows_dropped"] == 0
    # 300 frames at 29.97 fps end at 10.01 s: the audio's 10 s are curated, 0.01 s of video trimmed.
    assert row["duration_s"] == pytest.approx(float(odd.audio_s[GOOD]), abs=1e-6)
    assert row["trimmed_s"] == pytest.approx(float(odd.video_s[GOOD] - odd.audio_s[GOOD]), abs=1e-6)
    assert_frames_show_their_labels(compare_clip_frames(out, tables, odd, GOOD))


def test_a_late_first_frame_is_recorded_and_shown_at_the_ticks_before_it(curated, odd):
    out, tables = curated
    row = recording_row(tables, LATE_START)
    first_s = odd.kept_frames[LATE_START][0] * FRAME_TIME_BASE
    assert first_s == pytest.approx(LATE_START_S, abs=FRAME_PERIOD_S)
    assert row["video_start_s"] == pytest.approx(float(first_s), abs=1e-6)
    assert row["video_gaps"] == 0 and row["annotation_rows_dropped"] == 0
    # The video still ends at 10.01 s: the late start shortens nothing.
    assert row["duration_s"] == pytest.approx(float(odd.audio_s[LATE_START]), abs=1e-6)
    assert row["trimmed_s"] == pytest.approx(float(odd.video_s[LATE_START] - odd.audio_s[LATE_START]), abs=1e-6)
    assert windows(clips_of(tables, LATE_START)) == windows(clips_of(tables, GOOD))
    compared = compare_clip_frames(out, tables, odd, LATE_START)
    assert_frames_show_their_labels(compared)
    early = [c for c in compared if c["tick_s"] < first_s]
    assert early and all(c["shown"] == odd.kept_frames[LATE_START][0] for c in early)
    # At t = 0 the talker is not there yet in the complete video, but is in the first frame kept.
    assert any(c["discriminating"] for c in early), "no early tick tells the first kept frame from frame 0"


def test_a_short_hole_is_counted_and_shows_the_frame_before_it(curated, odd):
    out, tables = curated
    row = recording_row(tables, GAP)
    kept = odd.kept_frames[GAP]
    before, after = next((a, b) for a, b in itertools.pairwise(kept) if b - a > 1)
    assert before * FRAME_TIME_BASE < GAP_S[0] <= (before + 1) * FRAME_TIME_BASE
    assert (after - 1) * FRAME_TIME_BASE < GAP_S[1] <= after * FRAME_TIME_BASE
    assert row["video_gaps"] == 1 and row["video_start_s"] == 0.0 and row["annotation_rows_dropped"] == 0
    assert row["duration_s"] == pytest.approx(float(odd.audio_s[GAP]), abs=1e-6)
    assert windows(clips_of(tables, GAP)) == windows(clips_of(tables, GOOD))
    compared = compare_clip_frames(out, tables, odd, GAP)
    assert_frames_show_their_labels(compared)
    in_hole = [c for c in compared if after * FRAME_TIME_BASE > c["tick_s"] >= (before + 1) * FRAME_TIME_BASE]
    assert in_hole and all(c["shown"] == before for c in in_hole)
    # At 4.5 s the talker has stopped in the complete video; the frame before the hole still shows them.
    assert any(c["discriminating"] for c in in_hole), "no tick in the hole tells the frame before it from the rest"


def test_a_hole_leaves_the_video_s_end_where_it_was(curated, odd):
    """The frame before a hole lasts until the next; the last frame still lasts one frame period (1001/30000 s),
    not the average period of a video with frames missing: the video ends at 10.01 s, 0.01 s after the audio."""
    _, tables = curated
    row = recording_row(tables, GAP)
    assert odd.video_s[GAP] == odd.video_s[GOOD] == Fraction(1001, 100)
    assert row["trimmed_s"] == pytest.approx(float(odd.video_s[GAP] - odd.audio_s[GAP]), abs=1e-6)


def test_a_hole_longer_than_max_video_gap_s_rejects_the_recording(curated):
    _, tables = curated
    mine = tables["rejects"][tables["rejects"]["recording_id"] == LONG_GAP]
    assert list(mine["stage"]) == ["inspect"] and list(mine["reason"]) == ["video_gaps"]
    assert LONG_GAP in mine["detail"].iloc[0]


def test_a_video_longer_than_its_audio_is_trimmed_with_the_annotations_past_the_audio(curated, odd):
    _, tables = curated
    row = recording_row(tables, VIDEO_LONGER)
    audio_s, video_s = odd.audio_s[VIDEO_LONGER], odd.video_s[VIDEO_LONGER]
    assert float(video_s - audio_s) == pytest.approx(VIDEO_LONGER_BY_S, abs=FRAME_PERIOD_S)
    assert row["duration_s"] == pytest.approx(float(audio_s), abs=1e-6)
    assert row["trimmed_s"] == pytest.approx(float(video_s - audio_s), abs=1e-6)
    assert row["video_start_s"] == 0.0 and row["video_gaps"] == 0
    # 9.6 s: label frames 96–99 are past the common length.
    rows = read_annotations(recording_files(odd.root, VIDEO_LONGER).csv)
    past = [r for r in rows if r.frame * Fraction(1, 10) >= audio_s]
    assert past and row["annotation_rows_dropped"] == len(past)
    clips = clips_of(tables, VIDEO_LONGER)
    assert (clips["start_s"] + clips["duration_s"] <= float(audio_s) + 1e-6).all()
    good = clips_of(tables, GOOD)
    assert windows(clips) == windows(good[good["start_s"] + good["duration_s"] <= float(audio_s) + 1e-6])


def test_a_video_longer_than_max_av_mismatch_s_is_refused(curated):
    _, tables = curated
    mine = tables["rejects"][tables["rejects"]["recording_id"] == VIDEO_MUCH_LONGER]
    assert list(mine["stage"]) == ["inspect"] and list(mine["reason"]) == ["duration_mismatch"]


def test_an_annotation_row_past_the_end_is_dropped_and_counted(curated, odd):
    _, tables = curated
    row = recording_row(tables, ROW_PAST_END)
    assert odd.appended_row.frame * Fraction(1, 10) >= odd.audio_s[ROW_PAST_END]
    assert row["annotation_rows_dropped"] == 1 and row["status"] == "ok"
    assert row["duration_s"] == pytest.approx(float(odd.audio_s[ROW_PAST_END]), abs=1e-6)
    # Otherwise the same recording as GOOD: the same clips, with the same events.
    assert windows(clips_of(tables, ROW_PAST_END)) == windows(clips_of(tables, GOOD))
    events = tables["events"]
    columns = ["frame", "class_id", "source_index", "azimuth_deg", "elevation_deg"]

    def events_of(recording_id):
        mine = events[events["clip_id"].str.startswith(f"{recording_id}_f")].copy()
        mine["clip_id"] = mine["clip_id"].str.removeprefix(recording_id)
        return mine.sort_values(["clip_id", *columns])[["clip_id", *columns]].reset_index(drop=True)

    assert len(events_of(GOOD)) > 0
    assert events_of(ROW_PAST_END).equals(events_of(GOOD))


def test_a_stream_corrupted_in_the_middle_keeps_its_clips_up_to_the_corruption(curated, odd):
    """The run ended (the fixture bounds it); the recording is rejected whole, or keeps exactly the clips whose
    frames all come before the corruption (each showing its labels) and rejects the others."""
    out, tables = curated
    row = recording_row(tables, CORRUPTED)
    rejects = tables["rejects"][tables["rejects"]["recording_id"] == CORRUPTED]
    clips = clips_of(tables, CORRUPTED)
    if row["status"] == "rejected":
        assert row["reason"] == "video_decode_failed"
        assert "video_decode_failed" in set(rejects["reason"]) and clips.empty
        return
    assert not clips.empty, "no clip of the frames before the corruption"
    assert planned_windows(tables, CORRUPTED) == planned_windows(tables, GOOD)
    good = windows(clips_of(tables, GOOD))
    clip_rejects = rejects[rejects["clip_id"].notna()]
    rejected = {clip_window(CORRUPTED, clip_id): reason
                for clip_id, reason in zip(clip_rejects["clip_id"], clip_rejects["reason"])}
    late = 0
    for window in planned_windows(tables, GOOD):
        if clip_ticks_s(window[0])[-1] < odd.corrupted_from_s:
            assert (window in windows(clips)) == (window in good), window
        elif window in good:
            late += 1
            assert rejected.get(window) in {"video_decode_failed", "video_too_short"}, (window, rejected.get(window))
    assert late > 0, "no clip of GOOD shows frames past the corruption"
    assert_frames_show_their_labels(compare_clip_frames(out, tables, odd, CORRUPTED))
