"""Merge the recordings' parts (`tasks.parts`) into the manifests (Parquet, explicit schemas) and the split lists,
published last and as one release: readers never see the files of two runs mixed (`data_contracts._atomic.Release`).

The merge streams: one part at a time, in recording-id order, each part's rows written as one row group of each
manifest (`pyarrow.parquet.ParquetWriter`, zstd) and its clips' video paths appended to the split lists, so its
memory is that of the largest recording. The four manifests stay single files, `manifests/{recordings,clips,events,
rejects}.parquet`, that `pd.read_parquet` reads.

Rows are ordered so that reruns give the same bytes: recordings by (source folder, recording id); clips, events and
detections by recording id, then as the part lists them (clips by clip id, each clip's events by frame, class and
source index, detections by clip id, frame and x0); rejects by `REJECTS_ORDER`: recording id (rows naming no
recording first), stage, clip id (the recording's own rows first), reason, detail.
"""

from __future__ import annotations

import os
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.plan import CLIP_FOLDERS
from data_contracts._atomic import Release, is_partial
from data_contracts.classes import SPLITS
from data_contracts.errors import ContractError
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    DETECTIONS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    ManifestChecker,
    RecordingRow,
    RejectRow,
    rows_to_table,
    validate_rejects,
)
from tasks._run_context import run_logger
from tasks.ledger import LEDGER_DIR
from tasks.parts import load_part_info, prune_parts, read_part

__all__ = ["TABLES", "REJECTS_ORDER", "CLIP_DIRS", "write_manifests", "sort_rejects", "stage_parquet",
           "write_split_lists", "prune_stale_outputs"]

TABLES = {"recordings": RECORDINGS_SCHEMA, "clips": CLIPS_SCHEMA, "events": EVENTS_SCHEMA, "rejects": REJECTS_SCHEMA}
# The rejects manifest's sort key, column by column (a missing recording or clip id sorts first).
REJECTS_ORDER = ("recording_id", "stage", "clip_id", "reason", "detail")
COMPRESSION = "zstd"


def sort_rejects(rejects: pa.Table) -> pa.Table:
    """`rejects` (REJECTS_SCHEMA) in the manifest's order (`REJECTS_ORDER`), as one chunk with one dictionary per
    column."""
    keys = pa.table({name: pc.fill_null(pc.cast(rejects.column(name), pa.string()), "") for name in REJECTS_ORDER})
    order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in REJECTS_ORDER])
    return rejects.take(order).unify_dictionaries().combine_chunks()


def _run_rejects(rejects: Sequence[RejectRow]) -> dict[str | None, pa.Table]:
    """The run's own reject rows (discovery, inspection, failed recordings) as one table per recording id."""
    rows: dict[str | None, list[RejectRow]] = defaultdict(list)
    for reject in rejects:
        rows[reject.recording_id].append(reject)
    return {recording_id: rows_to_table(group, REJECTS_SCHEMA) for recording_id, group in rows.items()}


def _check_recipe_hash(recordings: pa.Table, rejects: Mapping[str | None, pa.Table]) -> None:
    """The run's reject rows carry the recordings' recipe hash (the parts' rows are the checker's)."""
    hashes = pc.unique(recordings.column("recipe_hash")).to_pylist()
    for table in rejects.values():
        hashes += [h for h in pc.unique(table.column("recipe_hash")).to_pylist() if h not in hashes]
    if len(hashes) > 1:
        raise ContractError(f"rejects: recipe_hash {hashes[1]!r} but recordings has {hashes[0]!r}; all manifests "
                            "must come from one recipe")


@task(name="write-manifests", cache_policy=NO_CACHE)
def write_manifests(output_dir: str, recordings: Sequence[RecordingRow], part_keys: Mapping[str, str],
                    rejects: Sequence[RejectRow], detections: bool = False) -> dict[str, str]:
    """Merge the parts into `manifests/*.parquet` and `splits/*.txt`, checked as they stream
    (`data_contracts.manifests.ManifestChecker`), and publish them as one release.

    `recordings` are every recording's row; `part_keys` the recordings whose part is merged (recording id → the
    key its part must have: a part rewritten since, or missing, fails the merge); `rejects` the run's own reject
    rows (discovery, inspection, recordings dropped as a whole), merged with the parts' clip rejects. With
    `detections`, every part must be verified and `manifests/detections.parquet` is written too. Nothing is
    published when anything fails. Returns {"recordings"|"clips"|"events"|"rejects"|"detections"|"splits/<split>":
    path}, the published paths as readers see them.
    """
    out = Path(output_dir)
    recording_table = rows_to_table(sorted(recordings, key=lambda r: (r.source_folder, r.recording_id)),
                                    RECORDINGS_SCHEMA)
    checker = ManifestChecker(recording_table)  # validates the recordings table
    run_rejects = _run_rejects(rejects)
    for table in run_rejects.values():
        validate_rejects(table)
    _check_recipe_hash(recording_table, run_rejects)
    names = ["clips", "events", "rejects", *(["detections"] if detections else [])]
    schemas = {**TABLES, "detections": DETECTIONS_SCHEMA}
    counts = dict.fromkeys(["recordings", *names], 0)
    with Release(out) as release, ExitStack() as stack:
        writers = {name: stack.enter_context(pq.ParquetWriter(release.stage(f"manifests/{name}.parquet"),
                                                              schemas[name], compression=COMPRESSION))
                   for name in names}
        split_files = {split: stack.enter_context(open(release.stage(f"splits/{split}.txt"), "w", encoding="utf-8",
                                                        newline="\n")) for split in SPLITS}

        def write(name: str, table: pa.Table) -> None:
            if table.num_rows:  # a row group per recording that has rows
                writers[name].write_table(table, row_group_size=table.num_rows)
                counts[name] += table.num_rows

        if None in run_rejects:
            write("rejects", sort_rejects(run_rejects[None]))
        for recording_id in sorted(set(part_keys) | {r for r in run_rejects if r is not None}):
            own_rejects = run_rejects.get(recording_id, REJECTS_SCHEMA.empty_table())
            if recording_id not in part_keys:
                write("rejects", sort_rejects(own_rejects))
                continue
            part = _read_part(out, recording_id, part_keys[recording_id], names)
            part["rejects"] = sort_rejects(pa.concat_tables([part["rejects"], own_rejects]))
            checker.add_part(recording_id, part["clips"], part["events"], part["rejects"], part.get("detections"))
            for name in names:
                write(name, part[name])
            _append_split_lines(split_files, part["clips"])
            del part
        checker.finish()
        stage_parquet(release, "recordings", recording_table)
        counts["recordings"] = recording_table.num_rows
    written = {f"splits/{split}": str(out / "splits" / f"{split}.txt") for split in SPLITS}
    written.update({name: str(out / "manifests" / f"{name}.parquet") for name in ["recordings", *names]})
    run_logger(__name__).info("manifests: %s; release %s", ", ".join(f"{n} {c} rows" for n, c in counts.items()),
                              release.release_id)
    return written


def _read_part(out: Path, recording_id: str, key: str, names: list[str]) -> dict[str, pa.Table]:
    """The tables `names` of a recording's part, which must have `key` (and be verified when detections are
    asked for)."""
    info = load_part_info(out, recording_id)
    if info is None or info.key != key:
        found = "no part" if info is None else f"a part of key {info.key}"
        raise ContractError(f"{out / '.savgbench' / 'parts' / recording_id}: {found}, expected the part of key {key} "
                            "this run wrote")
    if "detections" in names and not info.verified:
        raise ContractError(f"{out / '.savgbench' / 'parts' / recording_id}: not verified, but detections are "
                            "merged")
    return {name: read_part(out, recording_id, name) for name in names}


def _append_split_lines(split_files: Mapping[str, object], clips: pa.Table) -> None:
    """Append the `video_path` of each clip to its split's list, in the clips' order."""
    split = pc.cast(clips.column("split"), pa.string())
    for name, stream in split_files.items():
        paths = clips.column("video_path").filter(pc.equal(split, name))
        if len(paths):
            stream.write("".join(f"{path}\n" for path in paths.to_pylist()))


def stage_parquet(release: Release, name: str, table: pa.Table) -> Path:
    """Stage `table` as `manifests/{name}.parquet` of `release`, with the one compression every manifest is written
    with (zstd). Returns the path it is read at once published: `OUT/manifests/{name}.parquet`."""
    rel = f"manifests/{name}.parquet"
    pq.write_table(table, release.stage(rel), compression=COMPRESSION)
    return release.output_dir / rel


def write_split_lists(release: Release, clips: pa.Table) -> dict[str, Path]:
    """Stage `splits/{split}.txt` of `release` for every split from a whole clips table (`savgbench verify OUT`):
    the `video_path` of each clip whose `split` it is, one per line, in the clips table's order. Returns
    {"splits/<split>": `OUT/splits/<split>.txt`}; the files appear there when the release is published."""
    written = {}
    with ExitStack() as stack:
        files = {split: stack.enter_context(open(release.stage(f"splits/{split}.txt"), "w", encoding="utf-8",
                                                 newline="\n")) for split in SPLITS}
        _append_split_lines(files, clips)
    for split in SPLITS:
        written[f"splits/{split}"] = release.output_dir / f"splits/{split}.txt"
    return written


# Every folder clip files can be in, whatever the recipe's layout (`curation.plan.clip_output_paths`).
CLIP_DIRS = CLIP_FOLDERS
# The clips manifest's columns that name a clip's files (relative to the output root; foa_path may be null).
PATH_COLUMNS = ("video_path", "audio_path", "metadata_path", "foa_path")


def _listed_paths(out: Path, keep: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """The files (paths relative to `out`) the published clips manifest lists for the clips of `keep`; None when
    there is no manifest to ask."""
    path = out / "manifests" / "clips.parquet"
    if not path.is_file():
        return None
    clips = pq.read_table(path, columns=["clip_id", *PATH_COLUMNS])
    clips = clips.filter(pc.is_in(clips.column("clip_id"), value_set=keep))
    return pa.concat_arrays([clips.column(name).combine_chunks().drop_null() for name in PATH_COLUMNS])


def _clip_files(out: Path) -> list[Path]:
    """Every file under the clip folders (`CLIP_DIRS`, at any depth), sorted."""
    files = []
    for folder in CLIP_DIRS:
        for directory, _, names in os.walk(out / folder):
            files += [Path(directory) / name for name in names]
    return sorted(files)


def _remove_empty_folders(out: Path) -> None:
    """Remove the folders below the clip folders (not the clip folders themselves) that hold nothing, deepest
    first: the source folders of the dcase2025 layout once their last clip is gone."""
    for folder in CLIP_DIRS:
        for directory, _, _ in os.walk(out / folder, topdown=False):
            if Path(directory) != out / folder and not os.listdir(directory):
                os.rmdir(directory)


@task(name="prune-stale-outputs", cache_policy=NO_CACHE)
def prune_stale_outputs(output_dir: str, clip_ids, recording_ids: list[str]) -> int:
    """Delete what the manifests just written no longer list, so the output folder holds exactly what they
    describe: parts (`tasks.parts`) of recordings not in `recording_ids`, and, unless `clip_ids` is None (planning
    only: clip files are left alone), every file under the clip folders (`CLIP_DIRS`, at any depth, whatever the
    layout) that is not one of the paths the published clips manifest lists (`PATH_COLUMNS`) for a clip of
    `clip_ids` (a list or a pyarrow array of strings): e.g. a previous recipe's views or layout, the FOA files of
    a run without `audio_outputs: [.., foa]`, partial files of a killed run; then the folders this leaves empty
    below the clip folders, and ledgers of recordings not in `recording_ids`. Without a published manifest, the
    files whose name's stem is a clip id of `clip_ids` are kept. Returns the number of clip files removed. Only the
    clip folders, the parts and the ledgers are looked at: the releases (`.savgbench/releases`) are `Release`'s to
    keep or delete."""
    out = Path(output_dir)
    prune_parts(out, recording_ids)
    if clip_ids is None:
        return 0
    keep = clip_ids if isinstance(clip_ids, (pa.Array, pa.ChunkedArray)) else pa.array(list(clip_ids), pa.string())
    files = _clip_files(out)
    listed = _listed_paths(out, keep)
    if listed is None:
        names, listed = [path.stem for path in files], keep
    else:
        names = [path.relative_to(out).as_posix() for path in files]
    is_listed = pc.is_in(pa.array(names, pa.string()), value_set=listed).to_numpy(zero_copy_only=False)
    removed = 0
    for path, listed_here in zip(files, is_listed):
        # Partial files of a killed run, and complete files of clips no longer curated.
        if is_partial(path) or not listed_here:
            path.unlink()
            removed += 1
    if removed:
        _remove_empty_folders(out)
    known = set(recording_ids)
    ledger_dir = out / LEDGER_DIR
    for path in sorted(ledger_dir.glob("*.json")) if ledger_dir.is_dir() else ():
        if path.stem not in known:
            path.unlink()
    if removed:
        run_logger(__name__).info("removed %d stale clip files from %s", removed, out)
    return removed
