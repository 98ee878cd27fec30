"""Per-recording parts (`tasks.parts`): written as a set (a failed write leaves the part there was), validated when
written, keyed so that a rerun with the same key keeps the part and another key writes it again, and pruned when
their recording is no longer curated. Parts here are planned from hand-made annotations (no media)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import tasks.curate_recording
import tasks.parts
from curation.plan import plan_recording
from data_contracts.annotations import AnnotationRow
from data_contracts.errors import ContractError
from data_contracts.manifests import REJECTS_SCHEMA, RecordingRow
from data_contracts.recipe import load_recipe
from tasks.curate_recording import RecordingSummary, plan_part_task, planned_tables
from tasks.discover import LoadedRecording
from tasks.parts import (
    PARTS_DIR,
    PLANNED,
    RENDERED,
    load_part_info,
    part_dir,
    part_key,
    prune_parts,
    read_part,
    verified_part_key,
    write_part,
)

# Four views, 2 s windows every second: a 12 s recording gives a few dozen clips.
RECIPE_OVERRIDES = ["view_azimuths_deg=[0, 90, 180, 270]", "window_frames=20", "hop_frames=10"]
RECIPE = load_recipe(overrides=[*RECIPE_OVERRIDES, "min_onscreen_frames=5"])


def loaded_recording(recording_id: str, *, split: str = "generation", folder: str = "dev-train-synth",
                     duration_s: float = 12.0, seed: int = 0, recipe=RECIPE) -> LoadedRecording:
    """A recording as inspection leaves it, without media: a talker near the front, an instrument near the left,
    a clap behind, each active on a random half of the label frames."""
    rng = np.random.default_rng(seed)
    rows = []
    for frame in range(int(duration_s * 10)):
        for source_index, (class_id, azimuth_deg) in enumerate(((1, 5.0), (9, 85.0), (2, 180.0))):
            if rng.random() < 0.5:
                rows.append(AnnotationRow(frame, class_id, source_index, azimuth_deg + rng.normal(0, 3),
                                          float(rng.normal(0, 5))))
    set_name = "dev" if split == "generation" else "eval"
    row = RecordingRow(recording_id, folder, split, f"foa_{set_name}/{folder}/{recording_id}.wav",
                       f"video_{set_name}/{folder}/{recording_id}.mp4",
                       f"metadata_{set_name}/{folder}/{recording_id}.csv", duration_s, "ok", None, "a" * 64,
                       "b" * 64, f"{seed:064x}", recipe.recipe_hash)
    return LoadedRecording(row, tuple(rows), (640, 320))


def planned_part_tables(loaded: LoadedRecording, recipe=RECIPE) -> dict[str, pa.Table]:
    row = loaded.row
    plan = plan_recording(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations, recipe)
    clips, events = planned_tables(plan)
    return {"clips": clips, "events": events, "rejects": REJECTS_SCHEMA.empty_table()}


def part_files(out, recording_id: str) -> dict[str, bytes]:
    folder = part_dir(out, recording_id)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_planned_part_holds_the_plans_rows_and_its_summary_only_counts(tmp_path):
    loaded = loaded_recording("fold3_room21_mix001")
    summary = plan_part_task.fn(loaded, str(tmp_path), RECIPE)
    expected = planned_part_tables(loaded)
    assert sorted(part_files(tmp_path, "fold3_room21_mix001")) == [
        "clips.parquet", "events.parquet", "part.json", "rejects.parquet"]
    for name, table in expected.items():
        assert read_part(tmp_path, "fold3_room21_mix001", name).equals(table), name
    clips = expected["clips"]
    assert clips.num_rows > 10 and clips.column("clip_id").to_pylist() == sorted(clips.column("clip_id").to_pylist())
    info = load_part_info(tmp_path, "fold3_room21_mix001")
    assert info.key == part_key(loaded.row, RECIPE, PLANNED) and info.recording == loaded.row and not info.verified
    assert info.rows == {"clips": clips.num_rows, "events": expected["events"].num_rows, "rejects": 0}
    # Its funnel: the plan's clips per target class at each stage; planned only, "rendered" counts them too.
    row = loaded.row
    plan = plan_recording(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations, RECIPE)
    funnel = {**plan.class_counts, "after_budget": plan.class_counts["after_clip_gap"],
              "rendered": plan.class_counts["after_clip_gap"]}
    assert sum(funnel["rendered"].values()) == clips.num_rows and info.funnel == funnel
    assert funnel["rendered"] == {target: pc.sum(pc.equal(pc.cast(clips.column("target_class"), pa.string()),
                                                          target)).as_py() for target in ("speech", "instrument")}
    assert summary == RecordingSummary("fold3_room21_mix001", info.n_candidates, info.n_qualifying, clips.num_rows,
                                       expected["events"].num_rows, 0, {}, 0, None, info.key, None, False, funnel)
    # Counts only: nothing the size of the rows crosses the task boundary.
    assert not [f.name for f in dataclasses.fields(summary) if isinstance(getattr(summary, f.name), pa.Table)]
    # One row group per table, as the merge copies it.
    assert pq.ParquetFile(part_dir(tmp_path, "fold3_room21_mix001") / "events.parquet").num_row_groups == 1


def test_a_rerun_with_the_same_key_keeps_the_part_and_another_key_writes_it_again(tmp_path, monkeypatch):
    loaded = loaded_recording("fold3_room21_mix001")
    first = plan_part_task.fn(loaded, str(tmp_path), RECIPE)
    files = part_files(tmp_path, "fold3_room21_mix001")
    mtime_ns = (part_dir(tmp_path, "fold3_room21_mix001") / "part.json").stat().st_mtime_ns

    def no_planning(*args, **kwargs):
        raise AssertionError("planned again although the part has this key")

    monkeypatch.setattr(tasks.curate_recording, "plan_recording", no_planning)
    assert plan_part_task.fn(loaded, str(tmp_path), RECIPE) == first
    assert (part_dir(tmp_path, "fold3_room21_mix001") / "part.json").stat().st_mtime_ns == mtime_ns
    monkeypatch.undo()

    # Another recipe, or other annotations (their hash is in the recording's row): the part is written again.
    other_recipe = load_recipe(overrides=[*RECIPE_OVERRIDES, "min_onscreen_frames=8"])
    changed = plan_part_task.fn(loaded_recording("fold3_room21_mix001", recipe=other_recipe), str(tmp_path),
                                other_recipe)
    assert changed.part_key != first.part_key and changed.n_clips < first.n_clips
    assert load_part_info(tmp_path, "fold3_room21_mix001").key == changed.part_key
    other_annotations = plan_part_task.fn(loaded_recording("fold3_room21_mix001", seed=1), str(tmp_path), RECIPE)
    assert other_annotations.part_key not in (first.part_key, changed.part_key)
    assert part_files(tmp_path, "fold3_room21_mix001") != files
    # Back to the first inputs: the same bytes as the first time.
    plan_part_task.fn(loaded, str(tmp_path), RECIPE)
    assert part_files(tmp_path, "fold3_room21_mix001") == files
    assert sorted(os.listdir(tmp_path / PARTS_DIR)) == ["fold3_room21_mix001"]



def test_a_part_key_covers_the_recording_the_recipe_and_how_the_rows_were_made():
    row = loaded_recording("fold3_room21_mix001").row
    key = part_key(row, RECIPE, RENDERED)
    others = [
        part_key(row, RECIPE, PLANNED),
        part_key(dataclasses.replace(row, split="evaluation"), RECIPE, RENDERED),
        part_key(dataclasses.replace(row, duration_s=11.9), RECIPE, RENDERED),
        part_key(dataclasses.replace(row, video_sha256="d" * 64), RECIPE, RENDERED),
        part_key(row, dataclasses.replace(RECIPE, clip_peak_limit=0.5), RENDERED),
        verified_part_key(key, RECIPE),
        verified_part_key(key, dataclasses.replace(RECIPE, verify=True, min_visual_confirmation=0.5)),
    ]
    assert len({key, *others}) == len(others) + 1
    assert part_key(row, RECIPE, RENDERED) == key and verified_part_key(key, RECIPE) == others[-2]
    with pytest.raises(ValueError, match="made='drawn'"):
        part_key(row, RECIPE, "drawn")
    # A clip budget's thresholds are in the key (they depend on the other recordings of the split); none, no change.
    budgeted = part_key(row, RECIPE, RENDERED, {"speech": 5, "instrument": 2**64 - 1})
    assert budgeted not in (key, *others) and part_key(row, RECIPE, RENDERED, None) == key
    assert part_key(row, RECIPE, RENDERED, {"speech": 6, "instrument": 2**64 - 1}) != budgeted


def test_a_failed_write_leaves_the_part_there_was(tmp_path, monkeypatch):
    loaded = loaded_recording("fold3_room21_mix001")
    plan_part_task.fn(loaded, str(tmp_path), RECIPE)
    files = part_files(tmp_path, "fold3_room21_mix001")
    real_write = pq.write_table

    def fail_on_events(table, where, **kwargs):
        if str(where).endswith("events.parquet"):
            raise OSError(28, "No space left on device")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(tasks.parts.pq, "write_table", fail_on_events)
    other = loaded_recording("fold3_room21_mix001", seed=5)
    with pytest.raises(OSError, match="No space left"):
        write_part(tmp_path, other.row, "k2", 1, 1, planned_part_tables(other))
    assert part_files(tmp_path, "fold3_room21_mix001") == files
    assert sorted(os.listdir(tmp_path / PARTS_DIR)) == ["fold3_room21_mix001"]  # no partial folder left


def test_a_part_breaking_the_contract_is_refused_and_not_written(tmp_path):
    loaded = loaded_recording("fold3_room21_mix001")
    tables = planned_part_tables(loaded)
    # An event of a clip the part does not have.
    events = tables["events"]
    clip_ids = events.column("clip_id").to_pylist()
    clip_ids[7] = "fold3_room21_mix001_f99999_az+000_el+00"
    bad = {**tables, "events": events.set_column(0, events.schema.field(0), pa.array(clip_ids, pa.string()))}
    with pytest.raises(ContractError, match="events: row 7: clip_id='fold3_room21_mix001_f99999_az\\+000_el\\+00'"):
        write_part(tmp_path, loaded.row, "k", 1, 1, bad)
    # Clips of another recording.
    with pytest.raises(ContractError, match="fold3_room21_mix002"):
        write_part(tmp_path, dataclasses.replace(loaded.row, recording_id="fold3_room21_mix002"), "k", 1, 1, tables)
    assert not (tmp_path / PARTS_DIR).exists() or not os.listdir(tmp_path / PARTS_DIR)


def test_parts_of_recordings_no_longer_curated_and_leftovers_are_pruned(tmp_path):
    for recording_id in ("fold3_room21_mix001", "fold3_room21_mix002"):
        plan_part_task.fn(loaded_recording(recording_id), str(tmp_path), RECIPE)
    (tmp_path / PARTS_DIR / ".fold3_room21_mix001.partial").mkdir()
    (tmp_path / PARTS_DIR / ".fold3_room21_mix002.replaced-abc123").mkdir()
    assert prune_parts(tmp_path, ["fold3_room21_mix002", "fold3_room21_mix009"]) == 1
    assert sorted(os.listdir(tmp_path / PARTS_DIR)) == ["fold3_room21_mix002"]
    assert load_part_info(tmp_path, "fold3_room21_mix001") is None
    assert load_part_info(tmp_path, "fold3_room21_mix002") is not None
