"""Atomic writes (`data_contracts._atomic`): one partial-name rule, content only on success, staged commit order."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_contracts._atomic import (
    Release,
    StagedFiles,
    atomic_path,
    final_path_of_partial,
    is_partial,
    partial_path,
    write_bytes_atomic,
    write_text_atomic,
)


class Boom(Exception):
    pass


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_partial_name_is_hidden_in_the_same_folder_and_keeps_the_suffix(tmp_path):
    assert partial_path(tmp_path / "clip.mp4") == tmp_path / ".clip.partial.mp4"
    assert partial_path(tmp_path / "clips.parquet") == tmp_path / ".clips.partial.parquet"
    assert partial_path(tmp_path / "README") == tmp_path / ".README.partial"
    assert partial_path(tmp_path / "a.tar.gz").suffix == ".gz"


@pytest.mark.parametrize("name", ["clip.mp4", "generation.txt", "README", ".hidden", "a.tar.gz", "x.partial",
                                  "a.partial.b"])
def test_partial_names_map_back_to_their_destination(tmp_path, name):
    partial = partial_path(tmp_path / name)
    assert is_partial(partial)
    assert final_path_of_partial(partial) == tmp_path / name
    assert not is_partial(tmp_path / name) or name.startswith(".")


@pytest.mark.parametrize("name", ["clip.mp4", ".DS_Store", ".clip.mp4.partial", ".clip.mp4.123.tmp", ".partial",
                                  "clip.partial.mp4"])
def test_other_names_are_not_partial(name):
    assert not is_partial(Path(name))
    assert final_path_of_partial(Path(name)) is None


def test_atomic_path_yields_the_partial_and_replaces_the_destination_on_success(tmp_path):
    destination = tmp_path / "out.txt"
    destination.write_text("old\n")
    with atomic_path(destination) as partial:
        assert partial == tmp_path / ".out.partial.txt"
        partial.write_text("new content\n")
        # Until the block ends, readers see the previous file.
        assert destination.read_text() == "old\n"
    assert destination.read_text() == "new content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("fsync", [True, False])
def test_an_exception_leaves_neither_the_partial_nor_a_changed_destination(tmp_path, fsync):
    destination = tmp_path / "out.bin"
    destination.write_bytes(b"previous")
    with pytest.raises(Boom):
        with atomic_path(destination, fsync=fsync) as partial:
            partial.write_bytes(b"half")
            raise Boom
    assert destination.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_an_exception_before_any_destination_existed_creates_nothing(tmp_path):
    with pytest.raises(Boom):
        with atomic_path(tmp_path / "new.wav") as partial:
            partial.write_bytes(b"RIFF")
            raise Boom
    assert list(tmp_path.iterdir()) == []


def test_writers_that_pick_the_format_from_the_extension_work_on_the_partial(tmp_path):
    table = pa.table({"clip_id": ["a", "b"], "frame": [1, 2]})
    destination = tmp_path / "t.parquet"
    with atomic_path(destination) as partial:
        pq.write_table(table, partial)  # pyarrow infers nothing from a ".partial" ending; the suffix is kept
    assert pq.read_table(destination).equals(table)


def test_write_text_and_bytes_helpers_write_the_full_content(tmp_path):
    text = "".join(f"line {i}\n" for i in range(10_000))
    write_text_atomic(tmp_path / "a.txt", text)
    assert (tmp_path / "a.txt").read_bytes() == text.encode("utf-8")
    data = bytes(range(256)) * 1000
    write_bytes_atomic(tmp_path / "b.wav", data, fsync=False)
    assert (tmp_path / "b.wav").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.wav"]


def test_written_files_are_readable_like_any_other_output(tmp_path, umask_022):
    write_text_atomic(tmp_path / "a.txt", "x\n")
    write_bytes_atomic(tmp_path / "b.csv", b"x\n", fsync=False)
    with StagedFiles() as staged:
        staged.stage(tmp_path / "c.txt").write_text("x\n")
    for name in ("a.txt", "b.csv", "c.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_staged_files_appear_together_in_the_order_staged(tmp_path, monkeypatch):
    (tmp_path / "splits").mkdir()
    (tmp_path / "manifests").mkdir()
    order = [tmp_path / "splits" / "generation.txt", tmp_path / "splits" / "evaluation.txt",
             tmp_path / "manifests" / "clips.parquet", tmp_path / "manifests" / "events.parquet"]
    renamed = []
    real_replace = os.replace

    def recording_replace(src, dst):
        # Every file is complete before the first rename.
        assert all(partial_path(p).exists() or p.exists() for p in order)
        renamed.append(Path(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    with StagedFiles() as staged:
        for path in order:
            staged.stage(path).write_text(path.name)
        assert not any(p.exists() for p in order)
    assert renamed == order
    assert all(p.read_text() == p.name for p in order)
    assert not [p for p in tmp_path.rglob("*") if is_partial(p)]


def test_staged_files_are_all_discarded_on_an_exception(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    with pytest.raises(Boom):
        with StagedFiles() as staged:
            staged.stage(first).write_text("new a")
            staged.stage(second).write_text("new b")
            raise Boom
    assert first.read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.parametrize("fsync", [True, False])
def test_a_file_never_written_fails_the_commit_before_anything_is_renamed(tmp_path, fsync):
    with pytest.raises(FileNotFoundError, match="b.txt: staged but never written"):
        with StagedFiles(fsync=fsync) as staged:
            staged.stage(tmp_path / "a.txt").write_text("a")
            staged.stage(tmp_path / "b.txt")  # never written
            staged.stage(tmp_path / "c.txt").write_text("c")
    assert list(tmp_path.iterdir()) == []


def test_staging_a_destination_twice_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="staged twice"):
        with StagedFiles() as staged:
            staged.stage(tmp_path / "a.txt").write_text("a")
            staged.stage(tmp_path / "a.txt")
    assert list(tmp_path.iterdir()) == []


def test_split_lists_list_each_splits_video_paths_in_table_order(tmp_path):
    from tasks.manifests import write_split_lists

    clips = pa.table({"video_path": ["video_dev/b.mp4", "video_eval/a.mp4", "video_dev/a.mp4"],
                      "split": ["generation", "evaluation", "generation"]})
    with Release(tmp_path) as release:
        written = write_split_lists(release, clips)
        assert not (tmp_path / "splits" / "generation.txt").exists()
    assert written == {"splits/generation": tmp_path / "splits" / "generation.txt",
                       "splits/evaluation": tmp_path / "splits" / "evaluation.txt"}
    assert written["splits/generation"].read_bytes() == b"video_dev/b.mp4\nvideo_dev/a.mp4\n"
    assert written["splits/evaluation"].read_bytes() == b"video_eval/a.mp4\n"
    with Release(tmp_path) as release:
        write_split_lists(release, clips.slice(0, 0))
    assert written["splits/generation"].read_bytes() == b""
    assert sorted(p.name for p in (tmp_path / "splits").iterdir()) == ["evaluation.txt", "generation.txt"]
