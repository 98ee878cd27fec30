"""The verification stage's bookkeeping with a stub detector (boxes where we say): which events are confirmed, the
clips' rates, the min_visual_confirmation filter and its rejects, the detections table, and `savgbench verify OUT`
rewriting a finished output (manifests, splits, report, files of rejected clips)."""

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tasks.verify
from curation.metric.detect import Detections
from curation.media import encode_video
from data_contracts.errors import ContractError
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    DETECTIONS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    ClipRow,
    EventRow,
    RecordingRow,
    make_clip_id,
    rows_to_table,
    validate_manifests,
)
from data_contracts.recipe import Recipe, load_recipe
from tasks.curate_recording import RecordingOutput
from tasks.report import VERIFICATION_RATE, read_summary_rows
from tasks.verify import REASON, STAGE, verify_clips, verify_output_dir, verify_recording

RECORDING_ID = "fold5_room92_mix001"
# Clip "left" has its talker at x = 100 px, clip "right" at x = 200 px; the stub's boxes are at 90..110 px.
TALKER_X_PX = {"left": 100.0, "right": 200.0}


def stub_detect(frames: np.ndarray, content_box_px: tuple[int, int, int, int]) -> Detections:
    # The 256x144 pictures remapped from the source, without the letterbox.
    assert content_box_px == (0, 0, 256, 144) and frames.shape[1:] == (144, 256, 3)
    n = len(frames)
    return Detections(np.arange(n), np.array(["person"] * n, dtype=object), np.full(n, 0.8), np.full(n, 90.0),
                      np.full(n, 30.0), np.full(n, 110.0), np.full(n, 120.0))


def source_of(root: Path) -> Path:
    """The source folder `build_output(root, ...)` writes the recording's 360° video in (beside the output)."""
    return root.with_name(f"{root.name}-source")


def build_output(root: Path, recipe: Recipe):
    """Two rendered clips of one recording (grey video, empty wav and csv) and their manifests' rows; the
    recording's 360° video (grey, 8 s at 4 fps) under `source_of(root)`."""
    recording = RecordingRow(RECORDING_ID, "eval-synth", "evaluation", "foa_eval/x.wav", "video_eval/x.mp4",
                             "metadata_eval/x.csv", 8.0, "ok", None, None, None, None, recipe.recipe_hash)
    (source_of(root) / "video_eval").mkdir(parents=True, exist_ok=True)
    encode_video((np.full((64, 128, 3), 80, np.uint8) for _ in range(32)), source_of(root) / "video_eval/x.mp4", 4)
    clips, events = [], []
    for view_azimuth_deg, name in ((0.0, "left"), (40.0, "right")):
        clip_id = make_clip_id(RECORDING_ID, 0, view_azimuth_deg, 0.0)
        paths = {"video_path": f"video_eval/{clip_id}.mp4", "audio_path": f"audio_eval/{clip_id}.wav",
                 "metadata_path": f"metadata_eval/{clip_id}.csv"}
        for rel in paths.values():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
        encode_video((np.full((256, 256, 3), 80, np.uint8) for _ in range(20)), root / paths["video_path"], 4)
        (root / paths["audio_path"]).write_bytes(b"")
        (root / paths["metadata_path"]).write_text("")
        clips.append(ClipRow(clip_id, "evaluation", RECORDING_ID, "eval-synth", 0, 0.0, 5.0, view_azimuth_deg, 0.0,
                             100.0, 67.67, 50, 50, 50, "speech", recipe_hash=recipe.recipe_hash, **paths))
        x_px = TALKER_X_PX[name]
        for frame in range(50):
            events.append(EventRow(clip_id, RECORDING_ID, frame, 1, "Male speech", "speech", 0, 10.0, 0.0, True,
                                   x_px, 70.0, recipe.recipe_hash))
            # An onscreen instrument right at the boxes and an offscreen talker: neither is checked.
            events.append(EventRow(clip_id, RECORDING_ID, frame, 9, "Musical instrument", "instrument", 1, 5.0, 0.0,
                                   True, 100.0, 70.0, recipe.recipe_hash))
            events.append(EventRow(clip_id, RECORDING_ID, frame, 0, "Female speech", "speech", 2, 170.0, 0.0, False,
                                   None, None, recipe.recipe_hash))
    return recording, rows_to_table(clips, CLIPS_SCHEMA), rows_to_table(events, EVENTS_SCHEMA)


def write_manifests(root: Path, recording, clips, events):
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    pq.write_table(rows_to_table([recording], RECORDINGS_SCHEMA), root / "manifests" / "recordings.parquet")
    pq.write_table(clips, root / "manifests" / "clips.parquet")
    pq.write_table(events, root / "manifests" / "events.parquet")
    pq.write_table(REJECTS_SCHEMA.empty_table(), root / "manifests" / "rejects.parquet")
    (root / "splits").mkdir(exist_ok=True)
    (root / "splits" / "evaluation.txt").write_text("".join(f"{p}\n" for p in clips.column("video_path").to_pylist()))
    (root / "report").mkdir(exist_ok=True)
    (root / "report" / "summary.md").write_text(
        "# SAVGBench curation summary\n\n| stage | count |\n| --- | ---: |\n| recordings found | 1 |\n"
        "| candidate (window, view) pairs | 36 |\n| qualifying pairs | 2 |\n| clips kept | 2 |\n"
        "| seconds: audio | 1.5 |\n")


def sources(root: Path) -> dict[str, Path]:
    return {RECORDING_ID: source_of(root) / "video_eval/x.mp4"}


def test_onscreen_speech_events_are_confirmed_by_boxes_at_their_x(tmp_path):
    recipe = load_recipe(overrides=["verify=true"])
    recording, clips, events = build_output(tmp_path, recipe)
    verified = verify_clips(clips, events, recipe, stub_detect, recipe.recipe_hash, sources(tmp_path), print)
    assert verified.clips.schema == CLIPS_SCHEMA and verified.events.schema == EVENTS_SCHEMA
    assert verified.clips.column("visual_confirmation_rate").to_pylist() == [1.0, 0.0]
    rows = verified.events.to_pylist()
    checked = [r for r in rows if r["onscreen"] and r["target_class"] == "speech"]
    assert [r["visually_confirmed"] for r in checked] == [r["x_px"] == 100.0 for r in checked]
    assert all(r["visually_confirmed"] is None for r in rows if r not in checked)
    # Two views of one window: 40 clip frames, 40 distinct view frames.
    assert (verified.n_checked, verified.n_confirmed, verified.n_frames, verified.n_detector_frames) == (100, 50, 40,
                                                                                                       40)
    assert verified.rejects == [] and verified.rejected_files == []
    assert verified.detections.schema == DETECTIONS_SCHEMA and verified.detections.num_rows == 40
    assert verified.detections.column("frame").to_pylist() == list(range(20)) * 2
    validate_manifests(rows_to_table([recording], RECORDINGS_SCHEMA), verified.clips, verified.events,
                       REJECTS_SCHEMA.empty_table(), verified.detections)


def test_clips_below_min_visual_confirmation_become_rejects(tmp_path):
    recipe = load_recipe(overrides=["verify=true", "min_visual_confirmation=0.5"])
    recording, clips, events = build_output(tmp_path, recipe)
    verified = verify_clips(clips, events, recipe, stub_detect, recipe.recipe_hash, sources(tmp_path), print)
    right = clips.column("clip_id")[1].as_py()
    assert verified.clips.column("clip_id").to_pylist() == [clips.column("clip_id")[0].as_py()]
    assert right not in verified.events.column("clip_id").to_pylist()
    assert right not in verified.detections.column("clip_id").to_pylist()
    (reject,) = verified.rejects
    assert (reject.stage, reject.clip_id, reject.reason) == (STAGE, right, REASON)
    assert "0 of 50 onscreen speech events visually confirmed (0.000 < min_visual_confirmation 0.5)" in reject.detail
    # The files are the caller's to delete: still there.
    assert sorted(verified.rejected_files) == sorted(clips.select(["video_path", "audio_path", "metadata_path"])
                                                     .slice(1).to_pylist()[0].values())
    assert all((tmp_path / rel).exists() for rel in verified.rejected_files)
    validate_manifests(rows_to_table([recording], RECORDINGS_SCHEMA), verified.clips, verified.events,
                       rows_to_table(verified.rejects, REJECTS_SCHEMA), verified.detections)


def test_the_task_returns_the_verified_output_and_deletes_rejected_clip_files(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    recipe = load_recipe(overrides=["verify=true", "min_visual_confirmation=0.5"])
    _, clips, events = build_output(tmp_path, recipe)
    output = RecordingOutput(RECORDING_ID, 36, 2, clips, events, (), {"audio": 1.0})
    # A plain call, outside any Prefect run: the task logs to a standard logger (in a run: Prefect's run logger).
    with caplog.at_level("INFO", logger="tasks.verify"):
        verified = verify_recording.fn(output, str(tmp_path), recipe, str(source_of(tmp_path) / "video_eval/x.mp4"))
    progress = [record.getMessage() for record in caplog.records if "frames/s" in record.getMessage()]
    assert progress and progress[-1].startswith(f"{RECORDING_ID}: verify: 40 / 40 frames (100%)")
    left, right = clips.column("clip_id").to_pylist()
    assert verified.output.clips.column("clip_id").to_pylist() == [left]
    returned = verified.output
    assert (returned.recording_id, returned.n_candidates, returned.rejects) == (RECORDING_ID, 36, ())
    assert verified.output.seconds["audio"] == 1.0 and verified.output.seconds["verify"] > 0
    assert set(verified.detections.column("clip_id").to_pylist()) == {left}
    assert [(r.stage, r.clip_id, r.reason) for r in verified.rejects] == [(STAGE, right, REASON)]
    right_paths = clips.select(["video_path", "audio_path", "metadata_path"]).slice(1).to_pylist()[0].values()
    assert not any((tmp_path / rel).exists() for rel in right_paths)


def test_verify_command_rewrites_a_finished_output(tmp_path, monkeypatch):
    recipe = Recipe()
    recording, clips, events = build_output(tmp_path, recipe)
    write_manifests(tmp_path, recording, clips, events)
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    verify_recipe = load_recipe(overrides=["verify=true", "min_visual_confirmation=0.5"])
    counts = verify_output_dir(tmp_path, verify_recipe, source_dir=source_of(tmp_path), log=lambda message: None)
    assert counts == {"clips": 1, "checked": 100, "confirmed": 50, "rejected": 1, "detections": 20,
                      "clip_frames": 40, "detector_frames": 40}

    manifests = {name: pq.read_table(tmp_path / "manifests" / f"{name}.parquet")
                 for name in ("recordings", "clips", "events", "rejects", "detections")}
    validate_manifests(*(manifests[name] for name in ("recordings", "clips", "events", "rejects", "detections")))
    # Rows keep the curated set's recipe hash, not the hash of the recipe given to the command.
    assert set(manifests["detections"].column("recipe_hash").to_pylist()) == {recipe.recipe_hash}
    assert manifests["rejects"].column("reason").to_pylist() == [REASON]
    left, right = clips.column("clip_id").to_pylist()
    assert manifests["clips"].column("clip_id").to_pylist() == [left]
    assert (tmp_path / "splits" / "evaluation.txt").read_text() == f"video_eval/{left}.mp4\n"
    assert not list(tmp_path.glob(f"*/{right}.*")) and len(list(tmp_path.glob(f"*/{left}.*"))) == 3
    assert not list(tmp_path.rglob(".*partial*"))
    summary = {row["stage"]: row["count"] for row in read_summary_rows(tmp_path / "report" / "summary.md")}
    # Kept from the flow's summary, recomputed from the tables, and the verification figure.
    assert summary["candidate (window, view) pairs"] == 36 and summary["seconds: audio"] == 1.5
    assert summary["clips kept"] == 1 and summary[f"rejected: {REASON}"] == 1
    assert summary[VERIFICATION_RATE] == 1.0  # the rejected clip's events went with it


def test_verify_command_upgrades_manifests_written_before_the_stage_existed(tmp_path, monkeypatch):
    recipe = Recipe()
    recording, clips, events = build_output(tmp_path, recipe)
    old_clips = clips.drop_columns(["visual_confirmation_rate"])
    old_events = events.drop_columns(["visually_confirmed"])
    write_manifests(tmp_path, recording, old_clips, old_events)
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    verify_output_dir(tmp_path, dataclasses.replace(recipe, verify=True), source_dir=source_of(tmp_path),
                      log=lambda message: None)
    assert pq.read_table(tmp_path / "manifests" / "clips.parquet").schema.equals(CLIPS_SCHEMA, check_metadata=False)
    assert pq.read_table(tmp_path / "manifests" / "events.parquet").column("visually_confirmed").null_count == 200


def test_verify_command_refuses_a_recipe_of_another_frame_size(tmp_path, monkeypatch):
    recipe = Recipe()
    recording, clips, events = build_output(tmp_path, recipe)
    write_manifests(tmp_path, recording, clips, events)
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    with pytest.raises(ContractError, match=r"256x256 frames but the recipe has frame_width x frame_height = 320x256"):
        verify_output_dir(tmp_path, load_recipe(overrides=["frame_width=320"]), log=lambda message: None)


def test_manifests_from_before_the_target_class_column_get_it_from_the_frame_counts(tmp_path):
    from tasks.verify import _with_schema

    recipe = load_recipe()
    _, clips, _ = build_output(tmp_path, recipe)
    counts = {"n_speech_frames": [50, 10], "n_instrument_frames": [50, 30]}  # a tie goes to speech
    old = clips.slice(0, 2).drop_columns(["target_class"])
    for name, values in counts.items():
        old = old.set_column(old.schema.get_field_index(name), CLIPS_SCHEMA.field(name),
                             pa.array(values, pa.int32()))
    restored = _with_schema(old, CLIPS_SCHEMA, tmp_path / "clips.parquet")
    assert restored.schema == CLIPS_SCHEMA
    assert restored.column("target_class").to_pylist() == ["speech", "instrument"]


def test_verify_command_needs_the_source_it_was_curated_from(tmp_path, monkeypatch):
    recipe = Recipe()
    recording, clips, events = build_output(tmp_path, recipe)
    video = source_of(tmp_path) / "video_eval/x.mp4"
    # The recordings manifest knows the video's sha256: another file at that path is refused.
    recording = dataclasses.replace(recording, video_sha256="0" * 64)
    write_manifests(tmp_path, recording, clips, events)
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    verify_recipe = load_recipe(overrides=["verify=true"])
    before = (tmp_path / "manifests" / "clips.parquet").read_bytes()
    with pytest.raises(ContractError, match=r"give the source folder it was curated from \(savgbench verify OUT "
                                            r"--source SRC\)"):
        verify_output_dir(tmp_path, verify_recipe, log=lambda message: None)
    with pytest.raises(ContractError, match=f"{tmp_path / 'elsewhere' / 'video_eval/x.mp4'}: no such file"):
        verify_output_dir(tmp_path, verify_recipe, source_dir=tmp_path / "elsewhere", log=lambda message: None)
    with pytest.raises(ContractError, match=f"{video}: not the video the output was curated from"):
        verify_output_dir(tmp_path, verify_recipe, source_dir=source_of(tmp_path), log=lambda message: None)
    assert (tmp_path / "manifests" / "clips.parquet").read_bytes() == before


def test_verification_logs_its_progress_per_recording(tmp_path):
    recipe = load_recipe(overrides=["verify=true"])
    _, clips, events = build_output(tmp_path, recipe)
    lines: list[str] = []
    verify_clips(clips, events, recipe, stub_detect, recipe.recipe_hash, sources(tmp_path), lines.append)
    assert lines[-1].startswith("verify: 40 / 40 frames (100%)") and "frames/s, done in" in lines[-1]


def test_clips_of_a_recording_without_a_source_video_are_refused_naming_it(tmp_path):
    recipe = load_recipe(overrides=["verify=true"])
    _, clips, events = build_output(tmp_path, recipe)
    with pytest.raises(ContractError, match=f"no source video given for recording\\(s\\) {RECORDING_ID}"):
        verify_clips(clips, events, recipe, stub_detect, recipe.recipe_hash, {}, print)
