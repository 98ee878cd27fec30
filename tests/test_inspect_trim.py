"""Inspection of real recordings whose audio and video do not line up: the longer one is trimmed to the common
length, annotation rows past it are dropped, short video holes are accepted and long ones rejected, and every
detail names files relative to the source root. Small real files: FOA wavs (soundfile) and 128x64 mp4s (PyAV) at
30000/1001 fps with chosen frame timestamps."""

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from curation.discover import SourceRecording
from data_contracts.recipe import Recipe
from tasks.discover import inspect_recording

FOLDER = "dev-train-x"
RATE_HZ = 24000
# 29.97 fps: frame k at k·1001/30000 s; 90 frames end at exactly 3.003 s.
FRAME_TB = Fraction(1001, 30000)
FRAME_S = float(FRAME_TB)
VIDEO_S = 3.003
# Frames 0, 29 and 30: 30 is the first label frame past 3.003 s.
CSV_TEXT = "0,0,0,20,0,100\n29,1,0,-30,10,150\n30,0,0,20,0,100\n"


def write_foa(path: Path, duration_s: float) -> None:
    """A 4-channel 24 kHz noise wav of exactly duration_s (a whole number of samples)."""
    n_samples = round(duration_s * RATE_HZ)
    assert n_samples == pytest.approx(duration_s * RATE_HZ, abs=1e-6)
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(0).normal(0.0, 0.05, (n_samples, 4))
    sf.write(path, noise, RATE_HZ, subtype="PCM_24")


def write_video(path: Path, frame_indices) -> None:
    """A 128x64 H.264 mp4 whose frames sit at frame_indices · 1001/30000 s (a hole where indices skip)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A movie timescale of 30000 keeps a first frame after t = 0 exact (the mp4 edit list is in that timescale).
    with av.open(str(path), "w", format="mp4", options={"movie_timescale": "30000"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv420p"
        stream.time_base = stream.codec_context.time_base = FRAME_TB
        for index in frame_indices:
            frame = av.VideoFrame.from_ndarray(np.full((64, 128, 3), index % 250, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, FRAME_TB
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_recording(root: Path, recording_id: str, *, audio_s: float = VIDEO_S, frames=range(90),
                    csv_text: str = CSV_TEXT) -> SourceRecording:
    rel = [f"{top}_dev/{FOLDER}/{recording_id}.{ext}" for top, ext in (("foa", "wav"), ("video", "mp4"),
                                                                     ("metadata", "csv"))]
    write_foa(root / rel[0], audio_s)
    write_video(root / rel[1], frames)
    (root / rel[2]).parent.mkdir(parents=True, exist_ok=True)
    (root / rel[2]).write_text(csv_text)
    return SourceRecording(recording_id, FOLDER, *rel)


def inspect(root: Path, source: SourceRecording):
    return inspect_recording.fn(source, "generation", str(root), Recipe())


def accepted(root: Path, source: SourceRecording):
    inspection = inspect(root, source)
    assert inspection.reject is None, inspection.reject
    assert inspection.row.status == "ok" and inspection.loaded.row == inspection.row
    return inspection.row


def refused(root: Path, source: SourceRecording, reason: str):
    inspection = inspect(root, source)
    assert inspection.loaded is None and inspection.reject is not None
    assert (inspection.reject.reason, inspection.row.status, inspection.row.reason) == (reason, "rejected", reason)
    assert str(root) not in inspection.reject.detail
    return inspection


def test_a_video_longer_than_its_audio_is_trimmed_to_the_audio(tmp_path):
    row = accepted(tmp_path, write_recording(tmp_path, "video_longer", audio_s=VIDEO_S - 0.4))
    assert row.duration_s == pytest.approx(2.603, abs=1e-9)
    assert row.trimmed_s == pytest.approx(0.4, abs=1e-9)
    assert (row.video_start_s, row.video_gaps) == (0.0, 0)


def test_an_audio_longer_than_its_video_is_trimmed_to_the_video(tmp_path):
    row = accepted(tmp_path, write_recording(tmp_path, "audio_longer", audio_s=VIDEO_S + 0.4))
    assert row.duration_s == pytest.approx(VIDEO_S, abs=1e-9)
    assert row.trimmed_s == pytest.approx(0.4, abs=1e-9)


def test_equal_lengths_trim_nothing(tmp_path):
    row = accepted(tmp_path, write_recording(tmp_path, "equal"))
    assert (row.duration_s, row.trimmed_s) == (VIDEO_S, 0.0)


def test_lengths_further_apart_than_the_recipe_allows_are_a_duration_mismatch(tmp_path):
    source = write_recording(tmp_path, "mismatch", audio_s=VIDEO_S + 1.5)
    inspection = refused(tmp_path, source, "duration_mismatch")
    detail = inspection.reject.detail
    assert detail.startswith(f"{source.video_path}: ")
    assert "3.003 s" in detail and "4.503 s" in detail and "max_av_mismatch_s=1 s" in detail
    # The video was read: its timing is on the rejected row.
    assert (inspection.row.video_start_s, inspection.row.video_gaps) == (0.0, 0)


def test_annotation_rows_past_the_common_length_are_dropped_not_refused(tmp_path):
    inspection = inspect(tmp_path, write_recording(tmp_path, "rows_past_end"))
    assert inspection.reject is None
    assert inspection.row.annotation_rows_dropped == 1
    assert [row.frame for row in inspection.loaded.annotations] == [0, 29]


def test_the_common_length_decides_which_annotation_rows_are_dropped(tmp_path):
    # Audio 2.603 s: label frames 0-25 remain; 29 and 30 are past the end.
    inspection = inspect(tmp_path, write_recording(tmp_path, "short_audio", audio_s=VIDEO_S - 0.4))
    assert inspection.row.annotation_rows_dropped == 2
    assert [row.frame for row in inspection.loaded.annotations] == [0]


def test_no_row_past_the_end_drops_none(tmp_path):
    row = accepted(tmp_path, write_recording(tmp_path, "rows_inside", csv_text="0,0,0,20,0,100\n29,0,0,20,0,100\n"))
    assert row.annotation_rows_dropped == 0


def test_a_late_start_and_a_short_hole_are_accepted_and_counted(tmp_path):
    # First frame at 9 · 1001/30000 = 0.3003 s; no frame between 30 and 45 (0.5005 s).
    row = accepted(tmp_path, write_recording(tmp_path, "short_hole", frames=[*range(9, 31), *range(45, 90)]))
    assert row.video_start_s == pytest.approx(0.3003, abs=1e-9)
    assert row.video_gaps == 1
    assert row.duration_s == pytest.approx(VIDEO_S, abs=1e-9)


def test_a_hole_longer_than_the_recipe_allows_is_refused(tmp_path):
    # No frame between 31 and 76: 45 frame periods, 1.5015 s.
    source = write_recording(tmp_path, "long_hole", frames=[*range(32), *range(76, 90)])
    inspection = refused(tmp_path, source, "video_gaps")
    detail = inspection.reject.detail
    assert detail.startswith(f"{source.video_path}: ")
    assert "from 1.034 s to 2.536 s" in detail and "max_video_gap_s=1 s" in detail
    assert (inspection.row.video_start_s, inspection.row.video_gaps) == (0.0, 1)


def test_a_first_frame_later_than_the_recipe_allows_is_refused(tmp_path):
    source = write_recording(tmp_path, "late_start", frames=range(45, 90))
    inspection = refused(tmp_path, source, "video_gaps")
    assert f"from 0.000 s to {45 * FRAME_S:.3f} s" in inspection.reject.detail
    assert inspection.row.video_start_s == pytest.approx(45 * FRAME_S, abs=1e-6)
    assert inspection.row.video_gaps == 0


def broken_source(root: Path) -> dict[str, tuple[SourceRecording, str]]:
    """One recording per reject reason whose message comes from a reader given the file's full path, and the
    reasons built here; recording id → (source, expected reason)."""
    cases = {
        "mismatch": (write_recording(root, "mismatch", audio_s=VIDEO_S + 1.5), "duration_mismatch"),
        "long_hole": (write_recording(root, "long_hole", frames=[*range(32), *range(76, 90)]), "video_gaps"),
        "unknown_class": (write_recording(root, "unknown_class", csv_text="0,13,0,20,0,100\n"),
                          "annotation_unknown_class"),
        "corrupt_video": (write_recording(root, "corrupt_video"), "bad_video"),
        "corrupt_audio": (write_recording(root, "corrupt_audio"), "bad_audio"),
    }
    (root / cases["corrupt_video"][0].video_path).write_bytes(np.random.default_rng(1).bytes(20_000))
    (root / cases["corrupt_audio"][0].audio_path).write_bytes(b"RIFF not a wav at all")
    return cases


def test_details_name_files_relative_to_the_source_root_so_two_copies_give_the_same_rows(tmp_path):
    first = tmp_path / "first"
    cases = broken_source(first)
    second = tmp_path / "elsewhere" / "second"
    shutil.copytree(first, second)
    for source, reason in cases.values():
        one, other = refused(first, source, reason), refused(second, source, reason)
        assert one == other
        detail = one.reject.detail
        assert str(tmp_path) not in detail
        assert any(detail.startswith(f"{path}: ") for path in (source.audio_path, source.video_path,
                                                                source.metadata_path)), detail
