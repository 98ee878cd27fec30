"""Pairing STARSS-layout files into recordings, with a reason for every recording that can't be curated."""

from curation.discover import list_source_files, pair_source_files
from data_contracts.manifests import (
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    rows_to_table,
    validate_recordings,
    validate_rejects,
)
from data_contracts.recipe import Recipe
from tasks.discover import discover


def test_pairs_files_by_folder_and_stem_and_names_what_is_missing():
    paths = [
        "foa_dev/dev-train-sony/fold3_room21_mix001.wav",
        "metadata_dev/dev-train-sony/fold3_room21_mix001.csv",  # STARSS23: no video for mix001-012
        "foa_dev/dev-train-sony/fold3_room21_mix013.wav",
        "video_dev/dev-train-sony/fold3_room21_mix013.mp4",
        "metadata_dev/dev-train-sony/fold3_room21_mix013.csv",
        "video_dev/dev-test-tau/fold4_room2_mix001.mp4",
        "metadata_dev/dev-test-tau/fold4_room2_mix001.csv",
        "metadata_dev/dev-test-tau/fold4_room2_mix002.csv",
        "foa_eval/mix001.wav",  # files directly in the set folder
        "video_eval/mix001.mp4",
        "metadata_eval/mix001.csv",
    ]
    recordings, problems = pair_source_files(paths)
    assert [(r.recording_id, r.source_folder) for r in recordings] == [
        ("fold3_room21_mix013", "dev-train-sony"),
        ("mix001", "eval"),
    ]
    assert recordings[1].audio_path == "foa_eval/mix001.wav"
    assert [(p.recording_id, p.reason) for p in problems] == [
        ("fold4_room2_mix001", "no_audio"),
        ("fold4_room2_mix002", "missing_files"),
        ("fold3_room21_mix001", "no_video"),
    ]
    assert "no video" in problems[2].detail and "fold3_room21_mix001.wav" in problems[2].detail


def test_duplicate_recording_ids_across_folders_are_all_refused():
    paths = [f"{m}/{folder}/mix007.{ext}" for folder in ("dev-train-a", "dev-train-b")
             for m, ext in (("foa_dev", "wav"), ("video_dev", "mp4"), ("metadata_dev", "csv"))]
    recordings, problems = pair_source_files(paths)
    assert recordings == []
    assert [(p.source_folder, p.reason) for p in problems] == [
        ("dev-train-a", "duplicate_recording_id"), ("dev-train-b", "duplicate_recording_id")]
    assert "dev-train-b" in problems[0].detail


def test_lists_only_modality_folders_and_skips_hidden_partial_files(tmp_path):
    for rel in ["foa_dev/dev-x/a.wav", "video_dev/dev-x/a.mp4", "metadata_dev/dev-x/a.csv", "mic_dev/dev-x/a.wav",
                "video_dev/dev-x/.a.partial.mp4", "notes/readme.csv", "foa_dev/dev-x/a.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert list_source_files(tmp_path) == ["foa_dev/dev-x/a.wav", "metadata_dev/dev-x/a.csv", "video_dev/dev-x/a.mp4"]


def test_recording_ids_that_cannot_name_clip_files_are_refused_with_their_files():
    paths = [f"{m}/dev-x/{stem}.{ext}" for stem in ("with space", "café", "_hidden", "mix001")
             for m, ext in (("foa_dev", "wav"), ("video_dev", "mp4"), ("metadata_dev", "csv"))]
    recordings, problems = pair_source_files(paths)
    assert [r.recording_id for r in recordings] == ["mix001"]
    assert sorted((p.recording_id, p.reason) for p in problems) == [
        ("_hidden", "bad_recording_id"), ("café", "bad_recording_id"), ("with space", "bad_recording_id")]
    detail = next(p.detail for p in problems if p.recording_id == "with space")
    assert detail.startswith("recording id 'with space' cannot start a file-system-safe clip id")
    assert "foa_dev/dev-x/with space.wav, metadata_dev/dev-x/with space.csv, video_dev/dev-x/with space.mp4" in detail


def test_discovery_refuses_bad_ids_as_rows_that_validate_and_name_files_relative_to_the_source(tmp_path):
    for stem in ("with space", "café", "mix001"):
        for m, ext in (("foa_dev", "wav"), ("video_dev", "mp4"), ("metadata_dev", "csv")):
            path = tmp_path / m / "dev-x" / f"{stem}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    found = discover.fn(str(tmp_path), Recipe())
    assert [source.recording_id for source, _ in found.accepted] == ["mix001"]
    assert sorted((row.recording_id, row.status, row.reason, row.split) for row in found.rejected_rows) == [
        ("café", "rejected", "bad_recording_id", "generation"),
        ("with space", "rejected", "bad_recording_id", "generation")]
    validate_recordings(rows_to_table(found.rejected_rows, RECORDINGS_SCHEMA))
    validate_rejects(rows_to_table(found.rejects, REJECTS_SCHEMA))
    assert sorted((r.stage, r.recording_id, r.reason) for r in found.rejects) == [
        ("discover", "café", "bad_recording_id"), ("discover", "with space", "bad_recording_id")]
    for reject in found.rejects:
        assert str(tmp_path) not in reject.detail and f"foa_dev/dev-x/{reject.recording_id}.wav" in reject.detail


def test_pairing_from_annotations_only_needs_the_csv_alone_and_names_the_media_curate_would_read():
    paths = [
        "metadata_dev/dev-train-sony/fold3_room21_mix001.csv",  # annotations only
        "foa_dev/dev-train-sony/fold3_room21_mix002.wav",  # with its wav
        "metadata_dev/dev-train-sony/fold3_room21_mix002.csv",
        "foa_dev/dev-train-sony/fold3_room21_mix003.wav",  # media without annotations
        "video_dev/dev-train-sony/fold3_room21_mix003.mp4",
        "metadata_eval/mix001.csv",  # directly in the set folder
    ]
    recordings, problems = pair_source_files(paths, annotations_only=True)
    assert [(r.recording_id, r.source_folder, r.audio_path, r.video_path, r.metadata_path) for r in recordings] == [
        ("fold3_room21_mix001", "dev-train-sony", "foa_dev/dev-train-sony/fold3_room21_mix001.wav",
         "video_dev/dev-train-sony/fold3_room21_mix001.mp4", "metadata_dev/dev-train-sony/fold3_room21_mix001.csv"),
        ("fold3_room21_mix002", "dev-train-sony", "foa_dev/dev-train-sony/fold3_room21_mix002.wav",
         "video_dev/dev-train-sony/fold3_room21_mix002.mp4", "metadata_dev/dev-train-sony/fold3_room21_mix002.csv"),
        ("mix001", "eval", "foa_eval/mix001.wav", "video_eval/mix001.mp4", "metadata_eval/mix001.csv"),
    ]
    assert [(p.recording_id, p.reason) for p in problems] == [("fold3_room21_mix003", "no_metadata")]
    # Without the flag, the same files pair as before.
    assert [p.reason for p in pair_source_files(paths)[1]] == [
        "missing_files", "no_video", "no_metadata", "missing_files"]


def test_a_source_of_annotations_alone_is_a_usable_folder_and_one_without_them_is_not_for_annotations_only(tmp_path):
    from curation.discover import folder_problem

    source, out = tmp_path / "source", tmp_path / "out"
    (source / "metadata_dev" / "dev-x").mkdir(parents=True)
    (source / "metadata_dev" / "dev-x" / "a.csv").write_text("0,1,0,10,0\n")
    assert folder_problem(source, out) is None and folder_problem(source, out, annotations_only=True) is None
    media_only = tmp_path / "media"
    (media_only / "foa_dev" / "dev-x").mkdir(parents=True)
    (media_only / "foa_dev" / "dev-x" / "a.wav").write_bytes(b"")
    assert folder_problem(media_only, out) is None
    assert folder_problem(media_only, out, annotations_only=True) == (
        f"{media_only}: no annotation files under it (expected metadata_dev/…/*.csv)")
