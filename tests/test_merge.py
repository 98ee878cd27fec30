"""The manifest merge (`tasks.manifests.write_manifests`): parts streamed in recording-id order, one row group per
recording, rejects in their documented order, split lists streamed too; the same parts give the same bytes; pandas
reads the result; a merge that fails half-way publishes nothing and the next one gives the uninterrupted bytes; and
the parts are read one at a time, none kept once written."""

from __future__ import annotations

import gc
import weakref

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import tasks.manifests
from data_contracts._atomic import RELEASES_DIR, current_release
from data_contracts.errors import ContractError
from data_contracts.manifests import RecordingRow, RejectRow
from tasks.curate_recording import plan_part_task
from tasks.manifests import write_manifests
from tasks.parts import read_part
from tests.test_parts import RECIPE, loaded_recording

# Discovery order is not id order; one recording of the evaluation split.
CURATED = ("fold4_room2_mix003", "fold3_room21_mix001", "fold3_room21_mix002", "fold5_room9_mix001")
EVALUATION = "fold5_room9_mix001"
H = RECIPE.recipe_hash
MANIFESTS = ("recordings", "clips", "events", "rejects")


def recording_row(recording_id: str, status: str = "rejected", reason: str | None = "no_video") -> RecordingRow:
    return RecordingRow(recording_id, "dev-train-synth", "generation", f"foa_dev/dev-train-synth/{recording_id}.wav",
                        None, f"metadata_dev/dev-train-synth/{recording_id}.csv", None, status, reason, None, None,
                        None, H)


@pytest.fixture()
def run(tmp_path):
    """Parts of four curated recordings (one with two clip rejects), and the run's own rows: two recordings
    rejected before planning and a file discovery could not pair."""
    out = tmp_path / "out"
    recordings, part_keys = [], {}
    for index, recording_id in enumerate(CURATED):
        split = "evaluation" if recording_id == EVALUATION else "generation"
        loaded = loaded_recording(recording_id, split=split, seed=index,
                                  folder="eval-synth" if split == "evaluation" else "dev-train-synth")
        summary = plan_part_task.fn(loaded, str(out), RECIPE)
        recordings.append(loaded.row)
        part_keys[recording_id] = summary.part_key
    add_clip_rejects(out, "fold3_room21_mix002", recordings, part_keys)
    recordings += [recording_row("fold3_room21_mix000"), recording_row("fold9_room1_mix001")]
    rejects = [
        RejectRow("inspect", "fold9_room1_mix001", None, "no_video", "video_dev/x.mp4 is missing", H),
        RejectRow("discover", None, None, "unpaired_file", "foa_dev/dev-train-synth/lonely.wav", H),
        RejectRow("discover", "fold3_room21_mix000", None, "no_video", "no mp4", H),
    ]
    return out, recordings, part_keys, rejects


def add_clip_rejects(out, recording_id, recordings, part_keys) -> None:
    """Rewrite a recording's part with its last two clips rejected as clipped (as a render would)."""
    from tasks.parts import load_part_info, write_part

    info = load_part_info(out, recording_id)
    clips, events = read_part(out, recording_id, "clips"), read_part(out, recording_id, "events")
    dropped = clips.column("clip_id").to_pylist()[-2:]
    rejects = [RejectRow("render", recording_id, clip_id, "clipped", "stereo peak 1.2 > clip_peak_limit 0.9999", H)
               for clip_id in reversed(dropped)]
    from data_contracts.manifests import REJECTS_SCHEMA, rows_to_table

    keep = pc.invert(pc.is_in(clips.column("clip_id"), value_set=pa.array(dropped)))
    keep_events = pc.invert(pc.is_in(events.column("clip_id"), value_set=pa.array(dropped)))
    write_part(out, info.recording, "with-rejects", info.n_candidates, info.n_qualifying,
               {"clips": clips.filter(keep), "events": events.filter(keep_events),
                "rejects": rows_to_table(rejects, REJECTS_SCHEMA)})
    part_keys[recording_id] = "with-rejects"


def published(out) -> dict[str, bytes]:
    files = {f"manifests/{name}.parquet": (out / "manifests" / f"{name}.parquet").read_bytes() for name in MANIFESTS}
    files.update({f"splits/{p.name}": p.read_bytes() for p in sorted((out / "splits").iterdir())})
    return files


def test_parts_are_merged_in_recording_id_order_one_row_group_each(run):
    out, recordings, part_keys, rejects = run
    paths = write_manifests.fn(str(out), recordings, part_keys, rejects)
    assert paths["clips"] == str(out / "manifests" / "clips.parquet")
    in_order = sorted(CURATED)
    for name in ("clips", "events"):
        parquet = pq.ParquetFile(out / "manifests" / f"{name}.parquet")
        assert parquet.num_row_groups == len(CURATED), name
        for index, recording_id in enumerate(in_order):
            group = parquet.read_row_group(index)
            assert pc.unique(group.column("recording_id")).to_pylist() == [recording_id]
            assert group.equals(read_part(out, recording_id, name)), (name, recording_id)
    # pandas reads the single files: the parts one after the other, categoricals where the schema has dictionaries.
    clips = pd.read_parquet(out / "manifests" / "clips.parquet")
    expected = pa.concat_tables([read_part(out, r, "clips") for r in in_order]).to_pandas()
    pd.testing.assert_frame_equal(clips, expected, check_categorical=False)
    assert isinstance(clips["split"].dtype, pd.CategoricalDtype)
    events = pd.read_parquet(out / "manifests" / "events.parquet")
    assert len(events) == sum(read_part(out, r, "events").num_rows for r in CURATED)
    assert list(events["clip_id"].drop_duplicates()) == list(clips["clip_id"])
    recordings_table = pd.read_parquet(out / "manifests" / "recordings.parquet")
    assert sorted(recordings_table["recording_id"]) == sorted(r.recording_id for r in recordings)
    # Split lists: each split's clips' video paths, in the clips' order.
    for split in ("generation", "evaluation"):
        lines = (out / "splits" / f"{split}.txt").read_text().splitlines()
        assert lines == list(clips.loc[clips["split"] == split, "video_path"]) and lines, split
    assert all(line.startswith("video_eval/") for line in (out / "splits" / "evaluation.txt").read_text().split())


def test_rejects_are_ordered_by_recording_then_stage_clip_reason_and_detail(run):
    out, recordings, part_keys, rejects = run
    write_manifests.fn(str(out), recordings, part_keys, rejects)
    table = pq.read_table(out / "manifests" / "rejects.parquet")
    clipped = read_part(out, "fold3_room21_mix002", "rejects").column("clip_id").to_pylist()
    rows = zip(*(table.column(name).to_pylist() for name in ("recording_id", "stage", "clip_id", "reason")))
    assert list(rows) == [
        (None, "discover", None, "unpaired_file"),
        ("fold3_room21_mix000", "discover", None, "no_video"),
        ("fold3_room21_mix002", "render", sorted(clipped)[0], "clipped"),
        ("fold3_room21_mix002", "render", sorted(clipped)[1], "clipped"),
        ("fold9_room1_mix001", "inspect", None, "no_video"),
    ]
    assert pq.ParquetFile(out / "manifests" / "rejects.parquet").num_row_groups == 4  # per recording, and no one's


def test_the_same_parts_give_the_same_bytes(run):
    out, recordings, part_keys, rejects = run
    write_manifests.fn(str(out), recordings, part_keys, rejects)
    first = published(out)
    # The same rows given in another order.
    write_manifests.fn(str(out), recordings[::-1], dict(reversed(part_keys.items())), rejects[::-1])
    assert published(out) == first


def test_a_merge_failing_half_way_publishes_nothing_and_the_next_completes_it(run, tmp_path, monkeypatch):
    out, recordings, part_keys, rejects = run
    write_manifests.fn(str(out), recordings, part_keys, rejects)
    reference = published(out)
    # A new output folder, merged from the same parts: the first merge dies at the third recording.
    import shutil

    fresh = tmp_path / "fresh"
    shutil.copytree(out / ".savgbench" / "parts", fresh / ".savgbench" / "parts")
    real_read = tasks.manifests.read_part
    reads = []

    def dying_read(output_dir, recording_id, name, columns=None):
        reads.append(recording_id)
        if recording_id == sorted(CURATED)[2]:
            raise KeyboardInterrupt("killed")
        return real_read(output_dir, recording_id, name, columns)

    monkeypatch.setattr(tasks.manifests, "read_part", dying_read)
    with pytest.raises(KeyboardInterrupt):
        write_manifests.fn(str(fresh), recordings, part_keys, rejects)
    assert len(set(reads)) == 3
    assert current_release(fresh) is None and not (fresh / "manifests").exists() and not (fresh / "splits").exists()
    assert not list((fresh / RELEASES_DIR).iterdir())  # the half-written release is gone
    monkeypatch.undo()
    write_manifests.fn(str(fresh), recordings, part_keys, rejects)
    assert published(fresh) == reference


def test_parts_are_read_one_at_a_time_and_let_go_once_written(tmp_path, monkeypatch):
    out = tmp_path / "out"
    ids = [f"fold3_room{index}_mix001" for index in range(12)]
    recordings, part_keys = [], {}
    for index, recording_id in enumerate(ids):
        loaded = loaded_recording(recording_id, seed=index, duration_s=6.0)
        part_keys[recording_id] = plan_part_task.fn(loaded, str(out), RECIPE).part_key
        recordings.append(loaded.row)
    real_read = tasks.manifests.read_part
    alive: list[tuple[str, weakref.ref]] = []
    order = []

    def watched_read(output_dir, recording_id, name, columns=None):
        gc.collect()
        held = sorted({r for r, ref in alive if ref() is not None and r != recording_id})
        assert not held, f"reading {recording_id}'s {name} while tables of {held} are still held"
        order.append(recording_id)
        table = real_read(output_dir, recording_id, name, columns)
        alive.append((recording_id, weakref.ref(table)))
        return table

    monkeypatch.setattr(tasks.manifests, "read_part", watched_read)
    write_manifests.fn(str(out), recordings, part_keys, [])
    # Each part's tables read together, once, in recording-id order.
    assert [order[i] for i in range(0, len(order), 3)] == sorted(ids) and len(order) == 3 * len(ids)


def test_a_part_that_is_not_the_one_the_run_wrote_is_refused(run):
    out, recordings, part_keys, rejects = run
    stale = {**part_keys, "fold3_room21_mix001": "0" * 32}
    with pytest.raises(ContractError, match=r"parts/fold3_room21_mix001: a part of key \w+, expected the part of key "
                                            "0{32}"):
        write_manifests.fn(str(out), recordings, stale, rejects)
    with pytest.raises(ContractError, match="not verified, but detections are merged"):
        write_manifests.fn(str(out), recordings, part_keys, rejects, True)
    assert current_release(out) is None
