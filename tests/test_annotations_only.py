"""Discovery and inspection from annotations alone (`savgbench plan --annotations-only`): a recording needs only its
csv; its duration comes from the wav header, else the mp4 header, else its last annotated frame; no media is hashed,
and the rows validate like a curate run's."""

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from curation.media import ffmpeg_exe, probe_media
from data_contracts.annotations import AnnotationRow, read_annotations, write_annotations_csv
from data_contracts.manifests import (
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    rows_to_table,
    validate_recordings,
    validate_rejects,
)
from data_contracts.recipe import Recipe
from tasks.discover import discover, inspect_recording, sha256_file
from tests.helpers import starss22_sample

RECIPE = Recipe()
FOLDER = "dev-train-x"


def annotations(last_frame: int) -> list[AnnotationRow]:
    """A speaker straight ahead on every frame up to last_frame, and a second one on its even frames."""
    rows = [AnnotationRow(frame, 1, 0, 0.0, 0.0) for frame in range(last_frame + 1)]
    return rows + [AnnotationRow(frame, 9, 1, 40.0, 5.0) for frame in range(0, last_frame + 1, 2)]


def write_csv(source: Path, stem: str, last_frame: int, folder: str = f"metadata_dev/{FOLDER}") -> Path:
    path = source / folder / f"{stem}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_annotations_csv(path, annotations(last_frame))
    return path


def inspected(source: Path):
    """discover + inspect every accepted recording, annotations only: {recording id: Inspection}, the Discovery."""
    found = discover.fn(str(source), RECIPE, annotations_only=True)
    results = {source_recording.recording_id: inspect_recording.fn(source_recording, split, str(source), RECIPE, True)
               for source_recording, split in found.accepted}
    return results, found


def assert_rows_validate(inspections) -> None:
    validate_recordings(rows_to_table([i.row for i in inspections], RECORDINGS_SCHEMA))
    validate_rejects(rows_to_table([i.reject for i in inspections if i.reject is not None], REJECTS_SCHEMA))


def test_a_source_of_annotations_alone_plans_from_the_last_annotated_frame(tmp_path):
    csv = write_csv(tmp_path, "fold3_room1_mix001", last_frame=123)
    write_csv(tmp_path, "mix007", last_frame=9, folder="metadata_eval")  # directly in the set folder
    results, found = inspected(tmp_path)
    assert found.rejects == [] and sorted(results) == ["fold3_room1_mix001", "mix007"]
    inspection = results["fold3_room1_mix001"]
    row = inspection.row
    assert inspection.reject is None and row.status == "ok" and row.split == "generation"
    assert row.duration_s == 12.4 and row.annotation_rows_dropped == 0
    assert (row.audio_path, row.video_path) == (f"foa_dev/{FOLDER}/fold3_room1_mix001.wav",
                                                f"video_dev/{FOLDER}/fold3_room1_mix001.mp4")
    assert (row.audio_sha256, row.video_sha256, row.metadata_sha256) == (None, None, sha256_file(csv))
    assert (row.video_start_s, row.video_gaps, row.trimmed_s) == (None, None, None)
    assert inspection.loaded.annotations == tuple(read_annotations(csv))
    assert inspection.loaded.video_size_px is None
    eval_row = results["mix007"].row
    assert (eval_row.split, eval_row.source_folder, eval_row.duration_s) == ("evaluation", "eval", 1.0)
    assert (eval_row.audio_path, eval_row.video_path) == ("foa_eval/mix007.wav", "video_eval/mix007.mp4")
    assert_rows_validate(results.values())


def test_the_wav_header_gives_the_duration_and_rows_past_it_are_dropped(tmp_path):
    write_csv(tmp_path, "mix001", last_frame=60)
    wav = tmp_path / "foa_dev" / FOLDER / "mix001.wav"
    wav.parent.mkdir(parents=True)
    frames = int(4.25 * 24000)  # 4.25 s: label frames 0-41 are whole
    sf.write(wav, np.zeros((frames, 4), dtype=np.float32), 24000, subtype="PCM_24")
    results, _ = inspected(tmp_path)
    row = results["mix001"].row
    assert row.status == "ok" and row.duration_s == 4.25
    assert max(r.frame for r in results["mix001"].loaded.annotations) == 41
    assert row.annotation_rows_dropped == (61 - 42) + len(range(42, 61, 2))
    assert row.audio_sha256 is None and row.audio_path == f"foa_dev/{FOLDER}/mix001.wav"
    assert_rows_validate(results.values())


def test_without_a_wav_the_mp4_header_gives_the_duration(tmp_path):
    write_csv(tmp_path, "mix001", last_frame=60)
    mp4 = tmp_path / "video_dev" / FOLDER / "mix001.mp4"
    mp4.parent.mkdir(parents=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=128x64:r=10:d=2.5",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(mp4)], check=True)
    results, _ = inspected(tmp_path)
    row = results["mix001"].row
    assert row.status == "ok" and row.duration_s == round(probe_media(mp4).duration_s, 6)
    assert 2.4 < row.duration_s < 2.7 and row.video_sha256 is None
    assert row.annotation_rows_dropped > 0
    assert_rows_validate(results.values())


def test_unreadable_files_are_rejected_with_a_reason_naming_the_file(tmp_path):
    write_csv(tmp_path, "mix001", last_frame=30)
    bad_wav = tmp_path / "foa_dev" / FOLDER / "mix001.wav"
    bad_wav.parent.mkdir(parents=True)
    bad_wav.write_bytes(b"not a wav at all")
    header = tmp_path / "metadata_dev" / FOLDER / "mix002.csv"
    header.write_text("frame,class,source,azimuth,elevation\n0,1,0,10,0\n")
    write_csv(tmp_path, "mix003", last_frame=30)
    bad_mp4 = tmp_path / "video_dev" / FOLDER / "mix003.mp4"
    bad_mp4.parent.mkdir(parents=True)
    bad_mp4.write_bytes(b"\x00" * 64)
    results, _ = inspected(tmp_path)
    assert {rid: (i.row.status, i.row.reason) for rid, i in results.items()} == {
        "mix001": ("rejected", "bad_audio"), "mix002": ("rejected", "annotation_header"),
        "mix003": ("rejected", "bad_video")}
    assert results["mix001"].reject.detail.startswith(f"foa_dev/{FOLDER}/mix001.wav: unreadable audio")
    assert results["mix002"].reject.detail.startswith(f"metadata_dev/{FOLDER}/mix002.csv: line 1:")
    assert f"video_dev/{FOLDER}/mix003.mp4" in results["mix003"].reject.detail
    for inspection in results.values():
        assert str(tmp_path) not in inspection.reject.detail and inspection.reject.stage == "inspect"
    assert_rows_validate(results.values())


def test_the_real_starss22_annotations_all_inspect_from_their_last_frame(tmp_path):
    sample = starss22_sample()
    for folder in sample.iterdir():
        shutil.copytree(folder, tmp_path / "metadata_dev" / folder.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # released files repeat rows verbatim (DuplicateAnnotationWarning)
        results, found = inspected(tmp_path)
        last_frames = {path.stem: max(r.frame for r in read_annotations(path)) for path in sample.rglob("*.csv")}
    assert found.rejects == [] and len(results) == len(last_frames) > 60
    for recording_id, inspection in results.items():
        assert inspection.row.status == "ok", inspection.reject
        assert inspection.row.duration_s == round((last_frames[recording_id] + 1) * 0.1, 6)
    assert_rows_validate(results.values())
