"""The `dcase2025-stereo-seld` recipe: the DCASE2025 stereo SELD dataset's layout and file names (`layout:
dcase2025`), its rotation-angle convention, its labels, its frame rate and its stereo, on synthetic recordings at
29.97 fps; and the generalised pruning of clip files a layout leaves behind."""

import csv
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from curation.plan import clip_output_paths, dcase2025_rotation_deg
from curation.synthetic.generator import write_recording
from data_contracts.annotations import read_annotations
from data_contracts.errors import ContractError
from data_contracts.manifests import CLIPS_SCHEMA, ClipRow, RecordingRow, make_clip_id, rows_to_table
from data_contracts.recipe import Recipe, load_recipe
from tasks.ledger import render_key
from tasks.manifests import CLIP_DIRS, prune_stale_outputs
from tests.odd_recordings import BASE_SEED, ODD_SYNTH, base_rows, expected_source_rate_stereo, write_base_recording

NTSC = Fraction(30000, 1001)
SAMPLE_CLIPS = 6
# The named recipe with a small sample: the test's only change to it.
OVERRIDES = [f"sample_clips={SAMPLE_CLIPS}"]
DEV_TRAIN, DEV_TEST, EVAL = "dev-train-synth", "dev-test-synth", "eval-synth"


def test_the_rotation_angle_is_minus_the_view_azimuth_mod_360():
    # The generator rotates an event at azimuth φ to φ + deg and looks at 0: its view looks at STARSS azimuth −deg.
    for view_azimuth_deg, deg in ((30, 330), (0, 0), (270, 90), (-10, 10), (359, 1), (180, 180), (90, 270)):
        assert int(dcase2025_rotation_deg(view_azimuth_deg)) == deg, view_azimuth_deg
    np.testing.assert_array_equal(dcase2025_rotation_deg(np.array([30.0, 0.0, 270.0])), [330, 0, 90])


def test_layout_paths_and_names():
    paths = clip_output_paths("generation", "ignored", ("stereo", "foa"), "dcase2025",
                              recording_id="fold4_room2_mix003", source_folder="dev-test-tau", start_frame=37,
                              view_azimuth_deg=30.0)
    name = "dev-test-tau/fold4_room2_mix003_deg330_start0037"
    assert paths == {"video_path": f"video_dev/{name}.mp4", "audio_path": f"stereo_dev/{name}.wav",
                     "metadata_path": f"metadata_dev/{name}.csv", "foa_path": f"foa_dev/{name}.wav"}
    assert clip_output_paths("evaluation", "ignored", ("stereo",), "dcase2025", recording_id="mix001",
                             source_folder="eval", start_frame=4321, view_azimuth_deg=0.0) == {
        "video_path": "video_eval/eval/mix001_deg000_start4321.mp4",
        "audio_path": "stereo_eval/eval/mix001_deg000_start4321.wav",
        "metadata_path": "metadata_eval/eval/mix001_deg000_start4321.csv", "foa_path": None}
    # The default layout is the SAVGBench release's, by clip id.
    assert clip_output_paths("generation", "c", ("stereo",))["audio_path"] == "audio_dev/c.wav"


def test_layout_in_the_recipe_hash_not_the_render_key_and_its_validation():
    dcase = load_recipe(overrides=["layout=dcase2025"])
    assert "layout" not in Recipe().hashed_dict() and dcase.hashed_dict()["layout"] == "dcase2025"
    assert dcase.recipe_hash != Recipe().recipe_hash
    assert load_recipe(overrides=["layout=savgbench"]).recipe_hash == Recipe().recipe_hash
    row = RecordingRow("fold1_room1_mix001", DEV_TRAIN, "generation", "a.wav", "a.mp4", "a.csv", 10.0, "ok", None,
                       "1" * 64, "2" * 64, "3" * 64, "0" * 16)
    # Where files go is not what they hold: the ledger's render key is the same.
    assert render_key(row, dcase) == render_key(row, Recipe())
    for source, overrides, message in (
            (None, ["layout=flat"], "recipe: layout='flat': expected one of savgbench, dcase2025"),
            (None, ["layout=dcase2025", "view_azimuths_deg=[0, 12.5]"],
             "view_azimuths_deg=.*: layout: dcase2025 names clips by an integer angle, and 12.5 is not"),
            (None, ["layout=dcase2025", "view_elevations_deg=[0, 20]"],
             r"view_elevations_deg=\(0.0, 20.0\): layout: dcase2025 names clips without an elevation"),
            ("dcase2025-stereo-seld", ["sample_view_step_deg=2.5"],
             "sample_view_step_deg=2.5: layout: dcase2025 names clips by an integer angle")):
        with pytest.raises(ContractError, match=message):
            load_recipe(source, overrides)


def test_the_named_recipe():
    recipe = load_recipe("dcase2025-stereo-seld")
    assert (recipe.content_width, recipe.content_height) == (recipe.frame_width, recipe.frame_height) == (640, 360)
    assert (recipe.h_fov_deg, recipe.fps, recipe.audio_rate, recipe.highpass_hz, recipe.gain_db) == (
        100.0, "source", 24000, None, 0.0)
    assert (recipe.audio_outputs, recipe.label_format, recipe.layout, recipe.sampling, recipe.video_codec) == (
        ("stereo",), "dcase2025", "dcase2025", "random", "mpeg4")
    assert (recipe.sample_clips, recipe.sample_seed, recipe.sample_view_step_deg) == (30000, 20250305, 1.0)
    assert recipe.clip_peak_limit == 0.9999 and recipe.window_s == 5.0 and recipe.view_elevations_deg == (0.0,)
    assert recipe.split_rules_dict() == {"generation": ("dev-*",)}


def test_pruning_keeps_the_files_the_clips_manifest_lists_at_any_depth(tmp_path):
    recording_id = "fold1_room1_mix001"
    kept = dict(split="generation", clip_id=make_clip_id(recording_id, 0, 30.0, 0.0))
    paths = clip_output_paths(kept["split"], kept["clip_id"], ("stereo",), "dcase2025", recording_id=recording_id,
                              source_folder=DEV_TRAIN, start_frame=0, view_azimuth_deg=30.0)
    row = ClipRow(kept["clip_id"], "generation", recording_id, DEV_TRAIN, 0, 0.0, 5.0, 30.0, 0.0, 100.0, 67.67, 0, 0, 0,
                  "speech", paths["video_path"], paths["audio_path"], paths["metadata_path"], "0" * 16)
    (tmp_path / "manifests").mkdir()
    pq.write_table(rows_to_table([row], CLIPS_SCHEMA), tmp_path / "manifests" / "clips.parquet")
    stale = [f"stereo_dev/{DEV_TRAIN}/{recording_id}_deg000_start0000.wav",  # a clip no longer curated
             f"video_dev/{DEV_TEST}/{recording_id}_deg330_start0000.mp4",  # its folder empties
             f"audio_dev/{kept['clip_id']}.wav",  # the same clip in the default layout
             f"stereo_dev/{DEV_TRAIN}/.{recording_id}_deg330_start0000.partial.wav"]  # a killed run's partial file
    for path in [*stale, *(p for p in paths.values() if p is not None)]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x")
    assert prune_stale_outputs.fn(str(tmp_path), [kept["clip_id"]], [recording_id]) == len(stale)
    left = sorted(p.relative_to(tmp_path).as_posix() for d in CLIP_DIRS for p in (tmp_path / d).rglob("*"))
    assert left == sorted([*(p for p in paths.values() if p is not None), f"metadata_dev/{DEV_TRAIN}",
                           f"stereo_dev/{DEV_TRAIN}", f"video_dev/{DEV_TRAIN}"])
    assert (tmp_path / "video_dev").is_dir() and not (tmp_path / "video_dev" / DEV_TEST).exists()


def clip_files(out: Path) -> set[str]:
    """Every file under the clip folders, relative to `out`."""
    return {p.relative_to(out).as_posix() for d in CLIP_DIRS for p in (out / d).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Three 10 s recordings at 29.97 fps: two development folders and one evaluation folder, curated with the
    named recipe (6 clips)."""
    from flows.pipeline import PlainTaskCaller, run_curation

    source, out = tmp_path_factory.mktemp("dcase-source"), tmp_path_factory.mktemp("dcase-out")
    write_base_recording(source, "fold1_room1_mix001")
    write_recording(source, DEV_TEST, "dev", "fold2_room2_mix002", base_rows(), ODD_SYNTH, BASE_SEED + 1)
    write_recording(source, EVAL, "eval", "mix003", base_rows(), ODD_SYNTH, BASE_SEED + 2)
    recipe = load_recipe("dcase2025-stereo-seld", OVERRIDES)
    with PlainTaskCaller(2) as caller:
        run = run_curation(str(source), str(out), recipe, caller)
    clips = pq.read_table(out / "manifests" / "clips.parquet").to_pylist()
    return source, out, recipe, run, clips


@pytest.mark.slow
def test_the_dcase2025_layout_and_names(curated):
    source, out, recipe, run, clips = curated
    assert run.n_clips == len(clips) == SAMPLE_CLIPS and {c["split"] for c in clips} == {"generation"}
    expected = set()
    for clip in clips:
        deg = (-round(clip["view_azimuth_deg"])) % 360
        name = f"{clip['recording_id']}_deg{deg:03d}_start{clip['start_frame']:04d}"
        for column, folder, suffix in (("audio_path", "stereo_dev", "wav"), ("video_path", "video_dev", "mp4"),
                                       ("metadata_path", "metadata_dev", "csv")):
            assert clip[column] == f"{folder}/{clip['source_folder']}/{name}.{suffix}", clip["clip_id"]
            expected.add(clip[column])
        assert clip["foa_path"] is None and clip["view_elevation_deg"] == 0.0
        assert clip["view_azimuth_deg"] == round(clip["view_azimuth_deg"])
    # The clip folders hold exactly the listed files; the project's own outputs are beside them.
    assert clip_files(out) == expected
    assert {c["source_folder"] for c in clips} <= {DEV_TRAIN, DEV_TEST}
    for path in ("manifests/recordings.parquet", "manifests/events.parquet", "splits/generation.txt",
                 "report/summary.md", "report/index.html"):
        assert (out / path).is_file(), path
    # The evaluation folder has no split rule: listed, not sampled.
    rejects = pq.read_table(out / "manifests" / "rejects.parquet").to_pylist()
    assert [(r["recording_id"], r["reason"]) for r in rejects] == [("mix003", "no_split_rule")]
    # A rerun finds every file where the manifest says and renders nothing.
    from flows.pipeline import PlainTaskCaller, run_curation

    with PlainTaskCaller(2) as caller:
        again = run_curation(str(source), str(out), recipe, caller)
    assert again.n_rendered_clips == 0 and again.n_clips == SAMPLE_CLIPS


def fold_to_front(azimuth_deg: float) -> float:
    """The challenge's fold, by its definition: 180° − φ for φ > 90°, −180° − φ for φ < −90°."""
    return 180 - azimuth_deg if azimuth_deg > 90 else -180 - azimuth_deg if azimuth_deg < -90 else azimuth_deg


@pytest.mark.slow
def test_the_label_csvs(curated):
    source, out, recipe, run, clips = curated
    events = pq.read_table(out / "manifests" / "events.parquet").to_pylist()
    recordings = {r["recording_id"]: r for r in pq.read_table(out / "manifests" / "recordings.parquet").to_pylist()}
    n_behind, onscreen_values = 0, set()
    for clip in clips:
        with open(out / clip["metadata_path"], newline="") as f:
            header, *rows = list(csv.reader(f))
        assert header == ["frame", "class", "source", "azimuth", "distance", "onscreen"]
        annotations = {(a.frame, a.class_id, a.source_index): a
                       for a in read_annotations(source / recordings[clip["recording_id"]]["metadata_path"])}
        own = sorted((e for e in events if e["clip_id"] == clip["clip_id"]),
                     key=lambda e: (e["frame"], e["class_id"], e["source_index"]))
        assert len(rows) == len(own) > 0, clip["clip_id"]
        for row, event in zip(rows, own):
            annotation = annotations[(clip["start_frame"] + event["frame"], event["class_id"], event["source_index"])]
            assert row == [str(value) for value in (
                event["frame"], event["class_id"], event["source_index"], round(fold_to_front(event["azimuth_deg"])),
                round(annotation.distance_cm), int(event["onscreen"]))], clip["clip_id"]
            assert -90 <= int(row[3]) <= 90
            n_behind += abs(event["azimuth_deg"]) > 90
            onscreen_values.add(row[5])
    # The fold was exercised, and both onscreen values occur.
    assert n_behind > 0 and onscreen_values == {"0", "1"}


@pytest.mark.slow
def test_29_97_fps_in_and_out_and_the_mid_side_stereo_at_24_khz(curated):
    source, out, recipe, run, clips = curated
    recordings = {r["recording_id"]: r for r in pq.read_table(out / "manifests" / "recordings.parquet").to_pylist()}
    for clip in clips:
        recording = recordings[clip["recording_id"]]
        with av.open(str(source / recording["video_path"])) as container:
            assert container.streams.video[0].average_rate == NTSC
        with av.open(str(out / clip["video_path"])) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == NTSC and (stream.width, stream.height) == (640, 360), clip["clip_id"]
            assert (stream.codec_context.name, stream.codec_tag) == ("mpeg4", "mp4v"), clip["clip_id"]
            assert not container.streams.audio, clip["clip_id"]  # video only, as the generator's OpenCV writer
            assert sum(1 for _ in container.decode(stream)) == 150
        foa, rate = sf.read(source / recording["audio_path"], dtype="float32")
        stereo, clip_rate = sf.read(out / clip["audio_path"], dtype="float64")
        assert rate == clip_rate == 24000 and stereo.shape == (120000, 2)
        np.testing.assert_allclose(stereo, expected_source_rate_stereo(foa, rate, clip, 120000), atol=1.5 / 32768)


@pytest.mark.slow
def test_switching_the_layout_moves_the_files_and_leaves_their_bytes(curated, tmp_path):
    source, out, recipe, run, clips = curated
    from flows.pipeline import PlainTaskCaller, run_curation

    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    with PlainTaskCaller(2) as caller:
        moved = run_curation(str(source), str(copy),
                             load_recipe("dcase2025-stereo-seld", [*OVERRIDES, "layout=savgbench"]), caller)
    # The same draws (the layout is not in the render key, nor in the draws), rendered again at their new paths.
    assert moved.n_clips == moved.n_rendered_clips == SAMPLE_CLIPS
    flat = {c["clip_id"]: c for c in pq.read_table(copy / "manifests" / "clips.parquet").to_pylist()}
    assert set(flat) == {c["clip_id"] for c in clips}
    for clip in clips:
        for column, folder in (("audio_path", "audio_dev"), ("video_path", "video_dev"),
                               ("metadata_path", "metadata_dev")):
            assert flat[clip["clip_id"]][column] == f"{folder}/{clip['clip_id']}{Path(clip[column]).suffix}"
            assert (copy / flat[clip["clip_id"]][column]).read_bytes() == (out / clip[column]).read_bytes(), column
    # The dcase2025 files are gone, and so are their source folders.
    assert clip_files(copy) == {c[k] for c in flat.values() for k in ("audio_path", "video_path", "metadata_path")}
    assert [p.name for d in CLIP_DIRS for p in (copy / d).rglob("*") if p.is_dir()] == []
