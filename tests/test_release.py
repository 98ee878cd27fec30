"""Manifests and split lists are published as one release (`data_contracts._atomic.Release`): `manifests/` and
`splits/` always resolve into the same release folder, a publish switches both at once, the previous release stays
readable, an output folder of the layout before releases is converted, and nothing else deletes a release."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import tasks.verify
from data_contracts._atomic import CURRENT_LINK, RELEASES_DIR, Release, current_release, is_partial
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    DETECTIONS_SCHEMA,
    EVENTS_SCHEMA,
    REJECTS_SCHEMA,
    ClipRow,
    RecordingRow,
    make_clip_id,
    rows_to_table,
)
from data_contracts.recipe import Recipe, load_recipe
from tasks.manifests import prune_stale_outputs, write_manifests
from tasks.parts import PARTS_DIR, write_part
from tests.test_verify_units import build_output, source_of, stub_detect
from tests.test_verify_units import write_manifests as write_old_layout

RECIPE = Recipe()
RECORDING_ID = "fold5_room92_mix001"


def curated_tables(out: Path, views_deg: list[float], verified: bool = False):
    """One evaluation recording with one clip per view, written as its part (rows only: no media is needed to
    publish them); a verified part has an (empty) detections table. Returns the recordings and the part keys."""
    recording = RecordingRow(RECORDING_ID, "eval-synth", "evaluation", "foa_eval/x.wav", "video_eval/x.mp4",
                             "metadata_eval/x.csv", 8.0, "ok", None, None, None, None, RECIPE.recipe_hash)
    clips = []
    for view_azimuth_deg in views_deg:
        clip_id = make_clip_id(RECORDING_ID, 0, view_azimuth_deg, 0.0)
        clips.append(ClipRow(clip_id, "evaluation", RECORDING_ID, "eval-synth", 0, 0.0, 5.0, view_azimuth_deg, 0.0,
                             100.0, 67.67, 50, 50, 0, "speech", f"video_eval/{clip_id}.mp4", f"audio_eval/{clip_id}.wav",
                             f"metadata_eval/{clip_id}.csv", RECIPE.recipe_hash))
    clips.sort(key=lambda c: c.clip_id)
    tables = {"clips": rows_to_table(clips, CLIPS_SCHEMA), "events": EVENTS_SCHEMA.empty_table(),
              "rejects": REJECTS_SCHEMA.empty_table(), **({"detections": DETECTIONS_SCHEMA.empty_table()}
                                                         if verified else {})}
    key = f"views {views_deg} verified {verified}"
    write_part(out, recording, key, 36, len(clips), tables)
    return [recording], {RECORDING_ID: key}


def publish(out: Path, views_deg: list[float], verified: bool = False) -> dict[str, str]:
    recordings, part_keys = curated_tables(out, views_deg, verified)
    return write_manifests.fn(str(out), recordings, part_keys, [], verified)


def release_of(path: Path) -> Path:
    """The release folder a published path resolves into."""
    resolved = path.resolve()
    for parent in resolved.parents:
        if parent.parent.name == RELEASES_DIR.name:
            return parent
    raise AssertionError(f"{path} resolves to {resolved}, in no release")


def releases(out: Path) -> list[str]:
    return sorted(p.name for p in (out / RELEASES_DIR).iterdir())


def test_manifests_and_splits_resolve_into_one_release_through_relative_links(tmp_path):
    paths = publish(tmp_path, [0.0, 40.0])
    assert paths == {**{name: str(tmp_path / "manifests" / f"{name}.parquet")
                        for name in ("recordings", "clips", "events", "rejects")},
                     "splits/generation": str(tmp_path / "splits" / "generation.txt"),
                     "splits/evaluation": str(tmp_path / "splits" / "evaluation.txt")}
    (release_id,) = releases(tmp_path)
    assert current_release(tmp_path) == release_id
    for top in ("manifests", "splits"):
        assert (tmp_path / top).is_symlink() and os.readlink(tmp_path / top) == f".savgbench/current/{top}"
        assert release_of(tmp_path / top / "x") == (tmp_path / RELEASES_DIR / release_id).resolve()
    assert os.readlink(tmp_path / CURRENT_LINK) == f"releases/{release_id}"
    # Readers keep their paths: pandas, pyarrow, plain text.
    assert len(pd.read_parquet(tmp_path / "manifests" / "clips.parquet")) == 2
    assert len((tmp_path / "splits" / "evaluation.txt").read_text().splitlines()) == 2
    assert not [p for p in tmp_path.rglob("*") if is_partial(p)]


def test_release_ids_sort_by_time_and_differ():
    ids = [Release(".").release_id for _ in range(20)]
    assert len(set(ids)) == 20 and ids == sorted(ids)


def test_a_publish_switches_both_and_the_previous_release_stays_readable(tmp_path):
    publish(tmp_path, [0.0, 40.0, 80.0], verified=True)
    first = current_release(tmp_path)
    # A reader that resolved the files before the switch.
    old_clips = (tmp_path / "manifests" / "clips.parquet").resolve()
    old_split = (tmp_path / "splits" / "evaluation.txt").resolve()
    publish(tmp_path, [0.0])
    second = current_release(tmp_path)
    assert second != first and releases(tmp_path) == sorted([first, second])
    assert pq.read_table(tmp_path / "manifests" / "clips.parquet").num_rows == 1
    assert len((tmp_path / "splits" / "evaluation.txt").read_text().splitlines()) == 1
    assert release_of(tmp_path / "manifests" / "x") == release_of(tmp_path / "splits" / "x")
    # Not given detections this time: the new release has none, the previous one still does.
    assert not (tmp_path / "manifests" / "detections.parquet").exists()
    assert pq.read_table(old_clips).num_rows == 3 and len(old_split.read_text().splitlines()) == 3
    assert (old_clips.parent / "detections.parquet").is_file()
    # The next publish keeps only the release before it.
    publish(tmp_path, [40.0])
    assert releases(tmp_path) == sorted([second, current_release(tmp_path)])
    assert not old_clips.exists()


def test_an_output_folder_of_the_layout_before_releases_is_converted(tmp_path):
    for rel, text in (("manifests/clips.parquet", "old"), ("manifests/detections.parquet", "old"),
                      ("splits/generation.txt", "old\n"), ("splits/.evaluation.partial.txt", "half")):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    publish(tmp_path, [0.0])
    assert (tmp_path / "manifests").is_symlink() and (tmp_path / "splits").is_symlink()
    assert sorted(p.name for p in (tmp_path / "manifests").iterdir()) == [
        "clips.parquet", "events.parquet", "recordings.parquet", "rejects.parquet"]
    assert (tmp_path / "splits" / "generation.txt").read_text() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [".savgbench", "manifests", "splits"]
    assert sorted(p.name for p in (tmp_path / ".savgbench").iterdir()) == ["current", "parts", "releases"]


def test_a_moved_or_copied_output_folder_reads_and_publishes(tmp_path):
    publish(tmp_path / "out", [0.0, 40.0])
    os.rename(tmp_path / "out", tmp_path / "moved")
    assert pq.read_table(tmp_path / "moved" / "manifests" / "clips.parquet").num_rows == 2
    # A copy that followed the links has real folders everywhere, `current` too: the next publish converts it.
    shutil.copytree(tmp_path / "moved", tmp_path / "copy")
    assert not (tmp_path / "copy" / "manifests").is_symlink()
    publish(tmp_path / "copy", [0.0])
    assert (tmp_path / "copy" / CURRENT_LINK).is_symlink()
    assert pq.read_table(tmp_path / "copy" / "manifests" / "clips.parquet").num_rows == 1
    assert pq.read_table(tmp_path / "moved" / "manifests" / "clips.parquet").num_rows == 2


def test_a_failed_publish_leaves_the_current_release_as_it_was(tmp_path):
    publish(tmp_path, [0.0, 40.0])
    before = current_release(tmp_path)
    with pytest.raises(FileNotFoundError, match="splits/generation.txt: staged but never written"):
        with Release(tmp_path) as release:
            release.stage("manifests/clips.parquet").write_text("new")
            release.stage("splits/generation.txt")
    with pytest.raises(KeyError):
        with Release(tmp_path) as release:
            release.stage("manifests/clips.parquet").write_text("new")
            raise KeyError("boom")
    assert current_release(tmp_path) == before and releases(tmp_path) == [before]
    assert pq.read_table(tmp_path / "manifests" / "clips.parquet").num_rows == 2
    with pytest.raises(ValueError, match="not a file under manifests or splits"):
        Release(tmp_path).stage("report/summary.md")


def test_pruning_stale_clip_files_and_parts_leaves_the_releases_alone(tmp_path):
    publish(tmp_path, [0.0])
    publish(tmp_path, [0.0, 40.0])
    (tmp_path / "video_eval").mkdir()
    (tmp_path / "video_eval" / "stale.mp4").write_bytes(b"x")
    (tmp_path / PARTS_DIR / "fold5_room92_mix009").mkdir()  # the part of a recording no longer curated
    files = sorted(p for p in (tmp_path / RELEASES_DIR).rglob("*"))
    # Planning only (no clip ids): clip files are left alone, parts are pruned.
    assert prune_stale_outputs.fn(str(tmp_path), None, [RECORDING_ID]) == 0
    assert (tmp_path / "video_eval" / "stale.mp4").is_file()
    assert sorted(p.name for p in (tmp_path / PARTS_DIR).iterdir()) == [RECORDING_ID]
    assert prune_stale_outputs.fn(str(tmp_path), [], [RECORDING_ID]) == 1
    assert not (tmp_path / "video_eval" / "stale.mp4").exists()
    assert sorted(p for p in (tmp_path / RELEASES_DIR).rglob("*")) == files
    assert pq.read_table(tmp_path / "manifests" / "clips.parquet").num_rows == 2


def test_verify_command_publishes_a_release_carrying_over_the_unchanged_files(tmp_path, monkeypatch):
    recording, clips, events = build_output(tmp_path, RECIPE)
    write_old_layout(tmp_path, recording, clips, events)
    recordings_bytes = (tmp_path / "manifests" / "recordings.parquet").read_bytes()
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    verify_recipe = load_recipe(overrides=["verify=true", "min_visual_confirmation=0.5"])
    tasks.verify.verify_output_dir(tmp_path, verify_recipe, source_dir=source_of(tmp_path),
                                    log=lambda message: None)
    first = current_release(tmp_path)
    assert first is not None and (tmp_path / "manifests").is_symlink() and (tmp_path / "splits").is_symlink()
    assert release_of(tmp_path / "manifests" / "x") == release_of(tmp_path / "splits" / "x")
    assert (tmp_path / "manifests" / "recordings.parquet").read_bytes() == recordings_bytes
    assert sorted(p.name for p in (tmp_path / "manifests").iterdir()) == [
        "clips.parquet", "detections.parquet", "events.parquet", "recordings.parquet", "rejects.parquet"]
    assert pq.read_table(tmp_path / "manifests" / "clips.parquet").num_rows == 1
    # Once more on the published folder: a new release, the previous one kept.
    tasks.verify.verify_output_dir(tmp_path, verify_recipe, source_dir=source_of(tmp_path),
                                    log=lambda message: None)
    assert current_release(tmp_path) != first and releases(tmp_path) == sorted([first, current_release(tmp_path)])
    assert (tmp_path / "manifests" / "recordings.parquet").read_bytes() == recordings_bytes
    assert pq.read_table(tmp_path / "manifests" / "rejects.parquet").column("clip_id").to_pylist() == [
        clips.column("clip_id")[1].as_py()]
