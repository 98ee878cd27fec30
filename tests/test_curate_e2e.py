"""End to end: synthetic STARSS-style recordings through the curate flow (a real Prefect flow run), then checks of
the written media and manifests against the annotations alone."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from scipy import signal

from curation.metric.evaluate import read_stereo
from curation.geometry import angles_to_unit, pinhole_project, to_view_frame
from curation.media import iter_video_frames
from curation.perspective import letterbox_offset_px, perspective_map, render_view
from curation.synthetic.generator import room_background, source_band_hz, write_synthetic_dataset
from data_contracts.annotations import read_annotations
from data_contracts.manifests import CLIPS_SCHEMA, EVENTS_SCHEMA, RECORDINGS_SCHEMA, REJECTS_SCHEMA
from data_contracts.manifests import make_clip_id, validate_manifests
from data_contracts.recipe import load_recipe
from tasks.report import VERIFICATION_RATE, read_summary_rows
from tests.helpers import DETECTOR_OVERRIDES, E2E_SYNTH, MANIFEST_NAMES, fall_detection_weights

pytestmark = pytest.mark.slow

SYNTH = E2E_SYNTH


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("source")
    write_synthetic_dataset(root, SYNTH)
    return root


@pytest.fixture(scope="module")
def curated(source, tmp_path_factory):
    """One real Prefect flow run (ephemeral API) with the default SAVGBench recipe."""
    from flows.curate import curate

    out = tmp_path_factory.mktemp("out")
    paths = curate(str(source), str(out))
    tables = {name: pq.read_table(out / "manifests" / f"{name}.parquet") for name in MANIFEST_NAMES}
    return out, paths, tables


def test_manifests_validate_against_the_contracts(curated):
    out, paths, tables = curated
    assert tables["recordings"].schema.equals(RECORDINGS_SCHEMA, check_metadata=False)
    assert tables["clips"].schema.equals(CLIPS_SCHEMA, check_metadata=False)
    assert tables["events"].schema.equals(EVENTS_SCHEMA, check_metadata=False)
    assert tables["rejects"].schema.equals(REJECTS_SCHEMA, check_metadata=False)
    validate_manifests(tables["recordings"], tables["clips"], tables["events"], tables["rejects"])
    assert tables["clips"].num_rows > 0
    assert Path(paths["report"]).read_text().count("|") > 10


def reference_clip_ids(source: Path):
    """The clips the SAVGBench rule keeps, computed from the CSVs alone, one clip and one event at a time."""
    recipe = load_recipe()
    class_map = recipe.class_map_dict()
    expected = {}
    for csv_path in sorted(source.glob("metadata_*/*/*.csv")):
        rows = read_annotations(csv_path)
        n_frames = int(round(SYNTH.duration_s * 10))
        for start in range(0, n_frames - recipe.window_frames + 1, recipe.hop_frames):
            for view_az in recipe.view_azimuths_deg:
                frames = set()
                for r in rows:
                    if start <= r.frame < start + recipe.window_frames and r.class_id in class_map:
                        cam = to_view_frame(angles_to_unit(r.azimuth_deg, r.elevation_deg), view_az, 0.0)
                        if pinhole_project(cam, recipe.h_fov_deg, recipe.v_fov_deg, 256, 144)[2]:
                            frames.add(r.frame)
                if len(frames) >= recipe.min_onscreen_frames:
                    expected[make_clip_id(csv_path.stem, start, view_az, 0.0)] = csv_path.parent.name
    return expected


def test_clips_are_exactly_what_the_rule_predicts_from_the_csvs(source, curated):
    out, _, tables = curated
    clips = tables["clips"].to_pandas()
    rejects = tables["rejects"].to_pandas()
    expected = reference_clip_ids(source)
    clipped = set(rejects.loc[rejects["reason"] == "clipped", "clip_id"])
    assert set(clips["clip_id"]) | clipped == set(expected)
    assert len(expected) > 20, "the synthetic set should keep clips under the default recipe"
    for clip in clips.itertuples():
        assert clip.source_folder == expected[clip.clip_id]
        for rel in (clip.video_path, clip.audio_path, clip.metadata_path):
            assert (out / rel).is_file(), rel


def test_splits_are_per_recording_and_listed(curated):
    out, _, tables = curated
    clips = tables["clips"].to_pandas()
    assert clips.groupby("recording_id", observed=True)["split"].nunique().max() == 1
    expected_split = {"dev-train-synth": "generation", "dev-test-synth": "generation", "eval-synth": "evaluation"}
    assert (clips["source_folder"].astype(str).map(expected_split) == clips["split"].astype(str)).all()
    for split, prefix in (("generation", "video_dev/"), ("evaluation", "video_eval/")):
        listed = (out / "splits" / f"{split}.txt").read_text().split()
        assert sorted(listed) == sorted(clips.loc[clips["split"] == split, "video_path"])
        assert all(p.startswith(prefix) for p in listed)


def test_metadata_csvs_agree_with_events(curated):
    out, _, tables = curated
    clips = tables["clips"].to_pandas()
    events = tables["events"].to_pandas()
    of_interest = events[events["onscreen"] & events["target_class"].notna()]
    for clip in clips.itertuples():
        text = (out / clip.metadata_path).read_text()
        got = [tuple(line.split(",")) for line in text.splitlines()]
        mine = of_interest[of_interest["clip_id"] == clip.clip_id].sort_values(["frame", "class_id"])
        want = [(str(r.frame), str(r.class_id), f"{r.x_px:.2f}", f"{r.y_px:.2f}") for r in mine.itertuples()]
        assert got == want
        assert len({int(f) for f, *_ in got}) == clip.onscreen_frames


def decode_clip(path: Path) -> np.ndarray:
    return np.stack(list(iter_video_frames(path, 256, 256)))


def test_onscreen_events_are_visible_at_their_pixels(curated):
    """Every onscreen event of interest in a shown label frame has its person/shape at (x_px, y_px)."""
    out, _, tables = curated
    recipe = load_recipe()
    clips = tables["clips"].to_pandas().set_index("clip_id")
    events = tables["events"].to_pandas()
    events = events[events["onscreen"] & events["target_class"].notna()]
    background = room_background(SYNTH.width_px, SYNTH.height_px)
    _, top = letterbox_offset_px(256, 144, 256, 256)
    # Video frame k (4 fps) shows label frame floor(2.5 k).
    shown = {int(np.floor(2.5 * k)): k for k in range(20)}
    checked = misses = 0
    sample = sorted(events["clip_id"].unique())[::7]
    for clip_id in sample:
        clip = clips.loc[clip_id]
        frames = decode_clip(out / clip.video_path)
        empty = render_view(background, perspective_map(SYNTH.width_px, SYNTH.height_px, clip.view_azimuth_deg,
                                                        clip.view_elevation_deg, recipe.h_fov_deg, recipe.v_fov_deg,
                                                        256, 144)).astype(int)
        for e in events[events["clip_id"] == clip_id].itertuples():
            if e.frame not in shown:
                continue
            content = frames[shown[e.frame], top : top + 144].astype(int)
            changed = np.abs(content - empty).max(axis=2) > 40
            x, y = int(e.x_px), int(e.y_px)
            window = changed[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4]
            checked += 1
            misses += not window.any()
    assert checked > 50
    assert misses == 0, f"{misses} of {checked} onscreen events had nothing drawn within 3 px of (x_px, y_px)"


def test_left_right_energy_of_each_source_matches_mid_side_at_its_relative_azimuth(curated):
    """Per source (its own band), L/R energy in the clip's lossless wav agrees with L = W + Y', R = W − Y' at the
    annotated relative azimuths, within ±1.5 dB."""
    out, _, tables = curated
    clips = tables["clips"].to_pandas().set_index("clip_id")
    events = tables["events"].to_pandas()
    compared = 0
    for clip_id in sorted(clips.index)[::5]:
        stereo, rate = sf.read(out / clips.loc[clip_id, "audio_path"])
        assert stereo.shape == (80000, 2) and rate == 16000
        for source_index, ev in events[events["clip_id"] == clip_id].groupby("source_index"):
            if len(ev) < 40 or ev["class_id"].nunique() != 1:
                continue
            low_hz, high_hz = source_band_hz(int(source_index))
            sos = signal.butter(6, (low_hz, min(high_hz, 0.45 * rate)), btype="bandpass", fs=rate, output="sos")
            band = signal.sosfiltfilt(sos, stereo, axis=0)
            mid_energy = ((band[:, 0] + band[:, 1]) / 2) ** 2  # W
            per_frame = mid_energy[: 50 * 1600].reshape(50, 1600).sum(axis=1)
            side = np.zeros(50)
            weight = np.zeros(50)
            rel = np.sin(np.deg2rad(ev["azimuth_deg"])) * np.cos(np.deg2rad(ev["elevation_deg"]))
            side[ev["frame"].to_numpy()] = rel.to_numpy()
            weight[ev["frame"].to_numpy()] = 1.0
            # Only the frames where the source is annotated; edge frames lose energy to fades, so skip ±1 frame.
            inner = weight.astype(bool) & np.roll(weight, 1).astype(bool) & np.roll(weight, -1).astype(bool)
            if inner.sum() < 30 or np.abs(side[inner]).max() > 0.8:
                continue
            predicted_db = 10 * np.log10(np.sum(per_frame[inner] * (1 + side[inner]) ** 2)
                                         / np.sum(per_frame[inner] * (1 - side[inner]) ** 2))
            mask = np.repeat(inner, 1600)
            measured_db = 10 * np.log10(np.sum(band[:80000][mask, 0] ** 2) / np.sum(band[:80000][mask, 1] ** 2))
            assert measured_db == pytest.approx(predicted_db, abs=1.5), (clip_id, source_index)
            compared += 1
    assert compared >= 5


def test_every_clip_mp4_audio_decodes_to_its_own_wav(curated):
    """The mp4's AAC track is cut from its view's one stream: decoded by FFmpeg it is exactly the clip's 80,000
    samples and matches the clip's lossless wav (and not the neighbouring window's)."""
    out, _, tables = curated
    clips = tables["clips"].to_pandas().sort_values("clip_id")
    compared = 0
    for row in clips.iloc[::7].itertuples():
        decoded = read_stereo(out / row.video_path, 16000)
        reference, _ = sf.read(out / row.audio_path, dtype="float32")
        assert decoded.shape == (80000, 2), row.clip_id
        error_db = 10 * np.log10(np.sum((decoded - reference) ** 2) / np.sum(reference**2))
        shifted_db = 10 * np.log10(np.sum((decoded[8000:] - reference[:-8000]) ** 2) / np.sum(reference**2))
        assert error_db < -20.0 and shifted_db > -6.0, (row.clip_id, error_db, shifted_db)
        compared += 1
    assert compared >= 10


def test_rerun_with_other_views_produces_only_those_views(source, tmp_path):
    from flows.curate import curate

    curate(str(source), str(tmp_path), overrides=["view_azimuths_deg=[-45, 45]", "min_onscreen_frames=20"])
    clips = pd.read_parquet(tmp_path / "manifests" / "clips.parquet")
    assert len(clips) > 0
    assert set(clips["view_azimuth_deg"]) <= {-45.0, 45.0}
    assert sorted(p.name for p in (tmp_path / "video_dev").iterdir()) == sorted(
        Path(p).name for p in clips.loc[clips["split"] == "generation", "video_path"])


def test_flow_with_verification_writes_detections_and_confirmations(source, tmp_path):
    """The recipe switch puts the verification stage in the flow: detections.parquet, visually_confirmed on onscreen
    speech events, a per-clip confirmation rate, and the set-level figure in the report."""
    from flows.curate import curate

    overrides = ["view_azimuths_deg=[0, 120, 240]", "verify=true", f"detector_weights={fall_detection_weights()}",
                 *DETECTOR_OVERRIDES]
    paths = curate(str(source), str(tmp_path), overrides=overrides)
    tables = {n: pq.read_table(tmp_path / "manifests" / f"{n}.parquet") for n in MANIFEST_NAMES}
    validate_manifests(tables["recordings"], tables["clips"], tables["events"], tables["rejects"])
    detections = pq.read_table(paths["detections"]).to_pandas()
    assert len(detections) > 0 and set(detections["clip_id"]) <= set(tables["clips"].column("clip_id").to_pylist())
    events = tables["events"].to_pandas()
    speech_onscreen = events["onscreen"] & (events["target_class"] == "speech")
    assert events.loc[speech_onscreen, "visually_confirmed"].notna().all()
    rate = events.loc[speech_onscreen, "visually_confirmed"].astype(bool).mean()
    assert rate >= 0.9
    assert events.loc[~speech_onscreen, "visually_confirmed"].isna().all()
    assert tables["clips"].to_pandas()["visual_confirmation_rate"].notna().any()
    summary = {row["stage"]: row["count"] for row in read_summary_rows(Path(paths["report"]))}
    assert summary[VERIFICATION_RATE] == pytest.approx(rate, abs=1e-4)
    # Without the switch, a detections file of the earlier run is removed, not left describing other clips.
    curate(str(source), str(tmp_path), overrides=overrides[:1])
    assert not (tmp_path / "manifests" / "detections.parquet").exists()
