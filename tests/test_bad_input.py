"""Bad input: every broken recording gets a rejects row with a stable reason naming its file (relative to the
source folder), nothing of it is written, and the rest of the run goes on; a recording that is only a little off
(audio and video lengths apart by less than the recipe allows, annotation rows past the end) is trimmed, not
dropped. One flow run over a source folder holding one case per recording."""

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from scipy import signal

from curation.media import encode_video
from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from data_contracts.errors import ContractError

pytestmark = pytest.mark.slow

GOOD = "fold3_room90_mix001"
FOLDER = "dev-train-synth"

# recording id → expected reason code
CSV_CASES = {
    "csv_columns": ("0,0,0,10\n", "annotation_column_count"),
    "csv_not_numeric": ("0,0,0,ten,0,100\n", "annotation_not_numeric"),
    "csv_azimuth_range": ("0,0,0,200,0,100\n", "annotation_out_of_range"),
    "csv_elevation_range": ("0,0,0,20,-95,100\n", "annotation_out_of_range"),
    "csv_unknown_class": ("0,13,0,20,0,100\n", "annotation_unknown_class"),
    "csv_negative_frame": ("-1,0,0,20,0,100\n", "annotation_negative"),
    "csv_header": ("frame,class,source,azimuth,elevation,distance\n0,0,0,20,0,100\n", "annotation_header"),
    "csv_empty": ("", "annotation_empty"),
    "csv_duplicate": ("0,0,0,20,0,100\n0,0,0,25,0,100\n", "annotation_duplicate"),
}


def paths_of(root: Path, stem: str, folder: str = FOLDER):
    return (root / "foa_dev" / folder / f"{stem}.wav", root / "video_dev" / folder / f"{stem}.mp4",
            root / "metadata_dev" / folder / f"{stem}.csv")


def clone(root: Path, stem: str, folder: str = FOLDER):
    """Copy the good recording under another id; returns its (wav, mp4, csv) paths."""
    for src, dst in zip(paths_of(root, GOOD), paths_of(root, stem, folder)):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return paths_of(root, stem, folder)


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-source")
    write_synthetic_dataset(root, SynthConfig(n_recordings=1, duration_s=6.0, seed=5, width_px=640, height_px=320,
                                              fps=Fraction(20)))
    wav, mp4, csv = paths_of(root, GOOD)
    foa, rate = sf.read(wav, always_2d=True)

    clone(root, "no_video")[1].unlink()
    clone(root, "no_audio")[0].unlink()
    only_csv = clone(root, "only_annotations")
    only_csv[0].unlink(), only_csv[1].unlink()
    clone(root, "dup_id", "dev-train-a"), clone(root, "dup_id", "dev-train-b")
    clone(root, "corrupt_video")[1].write_bytes(np.random.default_rng(0).bytes(50_000))
    clone(root, "zero_length_video")[1].write_bytes(b"")
    truncated = clone(root, "truncated_video")[1]
    truncated.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    not_equirect = clone(root, "not_equirect")[1]
    encode_video([np.zeros((240, 320, 3), np.uint8)] * 120, not_equirect, Fraction(20))
    sf.write(clone(root, "stereo_audio")[0], foa[:, :2], rate, subtype="FLOAT")
    sf.write(clone(root, "audio_48k")[0], signal.resample_poly(foa, 2, 1, axis=0), 48000, subtype="FLOAT")
    short = clone(root, "truncated_audio")[0]
    short.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    sf.write(clone(root, "silent_audio")[0], np.zeros_like(foa), rate, subtype="FLOAT")
    sf.write(clone(root, "audio_shorter")[0], foa[: -rate // 2], rate, subtype="FLOAT")
    sf.write(clone(root, "audio_much_shorter")[0], foa[: -3 * rate // 2], rate, subtype="FLOAT")
    beyond_end = clone(root, "csv_beyond_end")[2]
    beyond_end.write_text(csv.read_text() + "9999,0,0,20,0,100\n")
    clone(root, "with space"), clone(root, "café")
    for stem, (text, _) in CSV_CASES.items():
        clone(root, stem)[2].write_text(text)

    from flows.curate import curate

    out = tmp_path_factory.mktemp("bad-out")
    curate(str(root), str(out), overrides=["view_azimuths_deg=[0, 90, 180, 270]", "min_onscreen_frames=10"])
    return root, out, {n: pq.read_table(out / "manifests" / f"{n}.parquet").to_pandas()
                       for n in ("recordings", "clips", "rejects")}


EXPECTED = {
    "no_video": "no_video",
    "no_audio": "no_audio",
    "only_annotations": "missing_files",
    "dup_id": "duplicate_recording_id",
    "corrupt_video": "bad_video",
    "zero_length_video": "bad_video",
    "truncated_video": ("duration_mismatch", "video_decode_failed"),
    "not_equirect": "not_equirectangular",
    "stereo_audio": "bad_audio_channels",
    "truncated_audio": "duration_mismatch",
    "silent_audio": "silent_audio",
    "audio_much_shorter": "duration_mismatch",
    "with space": "bad_recording_id",
    "café": "bad_recording_id",
    **{stem: reason for stem, (_, reason) in CSV_CASES.items()},
}


@pytest.mark.parametrize("recording_id", sorted(EXPECTED))
def test_each_bad_recording_is_rejected_with_its_reason_and_nothing_written(curated, recording_id):
    root, out, tables = curated
    rejects = tables["rejects"]
    mine = rejects[rejects["recording_id"] == recording_id]
    expected = EXPECTED[recording_id]
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(mine) >= 1 and set(mine["reason"]) <= set(expected), mine
    assert mine["clip_id"].isna().all()
    # The detail names the offending file or recording, files relative to the source folder.
    assert all(recording_id in detail for detail in mine["detail"]), list(mine["detail"])
    assert not any(str(root) in detail for detail in mine["detail"]), list(mine["detail"])
    recordings = tables["recordings"]
    rows = recordings[recordings["recording_id"] == recording_id]
    assert len(rows) >= 1 and (rows["status"] == "rejected").all() and set(rows["reason"]) <= set(expected)
    assert not (tables["clips"]["recording_id"] == recording_id).any()
    assert not list(out.glob(f"*/{recording_id}_*")), "no output file of a rejected recording"


def test_the_rest_of_the_run_goes_on(curated):
    _, out, tables = curated
    clips = tables["clips"]
    assert set(clips["recording_id"]) == {GOOD, "audio_48k", "audio_shorter", "csv_beyond_end"}
    # A 48 kHz FOA is resampled, not refused: its clips equal the 24 kHz original's (same views and windows).
    good = clips[clips["recording_id"] == GOOD]
    resampled = clips[clips["recording_id"] == "audio_48k"]
    assert len(good) > 0 and len(good) == len(resampled)
    for clip in good.itertuples():
        other = out / clip.audio_path.replace(GOOD, "audio_48k")
        a, _ = sf.read(out / clip.audio_path)
        b, _ = sf.read(other)
        assert np.sqrt(np.mean((a - b) ** 2)) < 0.1 * np.sqrt(np.mean(a**2))


def test_a_bad_recipe_is_refused_before_any_work(tmp_path):
    from flows.curate import curate

    for override, key in (["h_fov_deg=wide"], "h_fov_deg"), (["h_fov_deg=190"], "h_fov_deg"), \
            (["view_azimuths_deg=[]"], "view_azimuths_deg"), (["colour=red"], "colour"):
        with pytest.raises(ContractError, match=key):
            curate(str(tmp_path / "nowhere"), str(tmp_path / "out"), overrides=override)
    assert not (tmp_path / "out").exists()


def test_a_recording_a_little_off_is_trimmed_not_dropped(curated):
    _, _, tables = curated
    recordings = tables["recordings"].set_index("recording_id")
    clips = tables["clips"]
    good = recordings.loc[GOOD]
    assert (good["status"], good["trimmed_s"], good["annotation_rows_dropped"]) == ("ok", 0.0, 0)
    # Audio 0.5 s shorter than its video (the recipe allows 1 s): curated over the audio's 5.5 s.
    shorter = recordings.loc["audio_shorter"]
    assert shorter["status"] == "ok"
    assert shorter["duration_s"] == pytest.approx(good["duration_s"] - 0.5, abs=1e-6)
    assert shorter["trimmed_s"] == pytest.approx(0.5, abs=1e-6)
    mine = clips[clips["recording_id"] == "audio_shorter"]
    assert len(mine) > 0 and ((mine["start_s"] + mine["duration_s"]) <= shorter["duration_s"] + 1e-9).all()
    # An annotation row past the end is dropped and counted: the rest gives the same clips as the good recording.
    beyond = recordings.loc["csv_beyond_end"]
    assert (beyond["status"], beyond["annotation_rows_dropped"]) == ("ok", 1)
    assert len(clips[clips["recording_id"] == "csv_beyond_end"]) == len(clips[clips["recording_id"] == GOOD])
