"""`audio_outputs`: each clip's FOA rotated to its view (`foa_*/`, 4-channel float WAV) beside the stereo, listed in
the clips manifest's `foa_path`; a plane wave comes out of a view's FOA at its direction relative to the view; adding
"foa" to a stereo-only run writes only the FOA files."""

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from curation.foa import W, X, Y, Z, intensity_direction_deg
from curation.geometry import relative_angles_deg
from curation.media import ffmpeg_exe
from curation.plan import clip_output_paths
from curation.render import float_wav_bytes
from curation.synthetic.generator import SynthConfig, write_recording
from data_contracts.annotations import AnnotationRow
from data_contracts.manifests import CLIPS_SCHEMA, ClipRow, make_clip_id, rows_to_table, validate_clips
from data_contracts.recipe import load_recipe
from tasks.curate_recording import plan_recording_task, render_recording_task
from tasks.discover import discover, inspect_recording
from tasks.manifests import prune_stale_outputs
from tasks.parts import part_dir

# One talker, still, at (40°, 15°) for the whole 6 s recording.
SOURCE_AZIMUTH_DEG, SOURCE_ELEVATION_DEG = 40.0, 15.0
CONFIG = SynthConfig(n_recordings=1, duration_s=6.0, seed=4, width_px=512, height_px=256, fps=Fraction(20))
STEREO = ["view_azimuths_deg=[20, 60]", "view_elevations_deg=[0, 10]", "min_onscreen_frames=40"]
WITH_FOA = [*STEREO, "audio_outputs=[stereo, foa]"]
CLIP_DIRS = ("video_dev", "audio_dev", "metadata_dev")


def test_the_foa_wav_holds_the_float_samples_exactly_and_the_same_bytes_every_time(tmp_path):
    # Values beyond full scale and below 16-bit resolution, which a PCM file would clip or round.
    samples = np.random.default_rng(2).standard_normal((1000, 4)).astype(np.float32) * np.float32(1.7)
    samples[0] = [1e-7, -3.5, 2.0, 0.0]
    data = float_wav_bytes(samples, 16000)
    assert data == float_wav_bytes(samples.astype(np.float64), 16000)
    path = tmp_path / "foa.wav"
    path.write_bytes(data)
    info = sf.info(path)
    assert (info.format, info.subtype, info.channels, info.samplerate, info.frames) == ("WAV", "FLOAT", 4, 16000, 1000)
    read, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(read, samples)
    # FFmpeg reads it as 4 float channels too, sample for sample.
    command = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "wav", "-i", str(path), "-f", "f32le", "-"]
    decoded = subprocess.run(command, check=True, capture_output=True).stdout
    np.testing.assert_array_equal(np.frombuffer(decoded, "<f4").reshape(-1, 4), samples)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("foa-source")
    rows = [AnnotationRow(frame, 0, 0, SOURCE_AZIMUTH_DEG, SOURCE_ELEVATION_DEG, 150.0) for frame in range(60)]
    write_recording(root, "dev-train-synth", "dev", "fold1_room1_mix001", rows, CONFIG, seed=7)
    return root


def curate(source: Path, out: Path, overrides: list[str]):
    """Discover, inspect, plan and render the source's recording (plain task calls); the summary and the clips."""
    recipe = load_recipe(overrides=overrides)
    found = discover.fn(str(source), recipe)
    (source_recording, split), = found.accepted
    loaded = inspect_recording.fn(source_recording, split, str(source), recipe).loaded
    plan = plan_recording_task.fn(loaded, recipe)
    summary = render_recording_task.fn(loaded, plan, str(source), str(out), recipe)
    clips = pq.read_table(part_dir(out, loaded.row.recording_id) / "clips.parquet")
    validate_clips(clips)
    return recipe, summary, clips.to_pylist()


def media_files(out: Path, dirs=CLIP_DIRS) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for d in dirs if (out / d).is_dir() for p in sorted((out / d).iterdir())}


@pytest.fixture(scope="module")
def with_foa(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("foa-out")
    return out, *curate(source, out, WITH_FOA)


@pytest.mark.slow
def test_a_plane_wave_comes_out_of_each_views_foa_at_its_direction_relative_to_the_view(with_foa):
    out, recipe, summary, clips = with_foa
    # 3 windows (starts 0, 0.5, 1 s) x 4 views, the talker onscreen in all of them.
    assert summary.n_clips == len(clips) == 12 and summary.n_rejects == 0
    for clip in clips:
        assert clip["foa_path"] == f"foa_dev/{clip['clip_id']}.wav"
        info = sf.info(out / clip["foa_path"])
        assert (info.channels, info.samplerate, info.frames, info.subtype) == (4, 16000, 80000, "FLOAT")
        foa, _ = sf.read(out / clip["foa_path"], dtype="float64")
        found_azimuth_deg, found_elevation_deg = intensity_direction_deg(foa)
        view = (clip["view_azimuth_deg"], clip["view_elevation_deg"])
        expected_azimuth_deg, expected_elevation_deg = relative_angles_deg(SOURCE_AZIMUTH_DEG, SOURCE_ELEVATION_DEG,
                                                                           *view)
        if view[1] == 0:
            # A view at elevation 0 turns azimuths only: (φ − φ0, θ).
            assert (expected_azimuth_deg, expected_elevation_deg) == pytest.approx(
                (SOURCE_AZIMUTH_DEG - view[0], SOURCE_ELEVATION_DEG))
        assert found_azimuth_deg == pytest.approx(expected_azimuth_deg, abs=0.5), clip["clip_id"]
        assert found_elevation_deg == pytest.approx(expected_elevation_deg, abs=0.5), clip["clip_id"]
        # The talker is loud: 38 dB of gain on ~5e-4 RMS.
        assert np.sqrt(np.mean(foa[:, W] ** 2)) > 0.01
        # The stereo WAV is this FOA's mid-side decoding, L = W + Y', R = W − Y' (to 16-bit rounding).
        stereo, rate = sf.read(out / clip["audio_path"], dtype="float64")
        assert rate == 16000
        np.testing.assert_allclose(stereo[:, 0], foa[:, W] + foa[:, Y], atol=2 / 32768)
        np.testing.assert_allclose(stereo[:, 1], foa[:, W] - foa[:, Y], atol=2 / 32768)
        # X and Z carry the source too: the rotation kept all four channels.
        assert np.mean(foa[:, W] * foa[:, X]) > 0 and np.mean(foa[:, W] * foa[:, Z]) > 0


@pytest.mark.slow
def test_adding_foa_after_a_stereo_only_run_writes_only_the_foa_files(source, with_foa, tmp_path):
    out_foa, _, _, clips_foa = with_foa
    _, first, stereo_clips = curate(source, tmp_path, STEREO)
    assert first.n_rendered == 12
    assert [clip["foa_path"] for clip in stereo_clips] == [None] * 12
    assert not (tmp_path / "foa_dev").exists()
    before = media_files(tmp_path)
    # The stereo outputs are the same bytes whether or not the FOA is written with them.
    assert {path: data for path, (_, data) in before.items()} == {
        path: data for path, (_, data) in media_files(out_foa).items()}

    _, again, clips = curate(source, tmp_path, WITH_FOA)
    # Nothing rendered again: the mp4, stereo and metadata files are untouched; every FOA file is written, the same
    # bytes as a run that wrote them with the rest.
    assert again.n_rendered == 0 and again.n_clips == 12
    assert media_files(tmp_path) == before
    assert sorted(clip["foa_path"] for clip in clips) == sorted(clip["foa_path"] for clip in clips_foa)
    foa_files = media_files(tmp_path, ("foa_dev",))
    assert {path: data for path, (_, data) in foa_files.items()} == {
        path: data for path, (_, data) in media_files(out_foa, ("foa_dev",)).items()}
    assert set(again.seconds) == {"foa_only"}

    # A third run has nothing left to write.
    _, third, _ = curate(source, tmp_path, WITH_FOA)
    assert third.n_rendered == 0 and third.seconds == {}
    assert media_files(tmp_path, ("foa_dev",)) == foa_files


def test_pruning_keeps_the_foa_files_the_clips_manifest_lists_and_no_other(tmp_path):
    # Clip a has its FOA listed; clip b is curated without one (a later run left foa out); clip c is no longer curated.
    rows = []
    for name, foa in (("a", True), ("b", False)):
        clip_id = make_clip_id("fold1_room1_mix001", 0 if name == "a" else 5, 0.0, 0.0)
        paths = clip_output_paths("generation", clip_id, ("stereo", "foa") if foa else ("stereo",))
        rows.append(ClipRow(clip_id, "generation", "fold1_room1_mix001", "dev-train-synth", 0 if name == "a" else 5,
                            0.0 if name == "a" else 0.5, 5.0, 0.0, 0.0, 100.0, 67.67, 50, 50, 0, "speech",
                            paths["video_path"], paths["audio_path"], paths["metadata_path"], "0" * 16,
                            foa_path=paths["foa_path"]))
    (tmp_path / "manifests").mkdir()
    pq.write_table(rows_to_table(rows, CLIPS_SCHEMA), tmp_path / "manifests" / "clips.parquet")
    (tmp_path / "foa_dev").mkdir()
    stale = "fold1_room1_mix001_f00010_az+000_el+00"
    for clip_id in (rows[0].clip_id, rows[1].clip_id, stale):
        (tmp_path / "foa_dev" / f"{clip_id}.wav").write_bytes(b"x")
    assert prune_stale_outputs.fn(str(tmp_path), [rows[0].clip_id, rows[1].clip_id], ["fold1_room1_mix001"]) == 2
    assert [p.name for p in (tmp_path / "foa_dev").iterdir()] == [f"{rows[0].clip_id}.wav"]
    assert rows[0].foa_path == f"foa_dev/{rows[0].clip_id}.wav" and rows[1].foa_path is None
