"""Write the manifests (Parquet, explicit schemas) and the split lists, atomically and last."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from data_contracts._atomic import StagedFiles, is_partial
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    DETECTIONS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    rows_to_table,
    validate_manifests,
)
from data_contracts.classes import SPLITS
from tasks._run_context import run_logger
from tasks.ledger import LEDGER_DIR

TABLES = {"recordings": RECORDINGS_SCHEMA, "clips": CLIPS_SCHEMA, "events": EVENTS_SCHEMA, "rejects": REJECTS_SCHEMA}


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """One table from per-recording tables, in the order given, as a single chunk with one dictionary per column."""
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables).unify_dictionaries().combine_chunks()


@task(name="write-manifests", cache_policy=NO_CACHE)
def write_manifests(output_dir: str, recordings, outputs, rejects, detections=None) -> dict[str, str]:
    """Validate the four tables together, then write `manifests/*.parquet` and `splits/*.txt`.

    `outputs` are the recordings' RecordingOutput (clips and events tables, each sorted by clip id). Rows are
    ordered by their ids so the files are byte-identical for the same inputs and recipe. `detections` (tables of
    the verification stage, one per recording) is written as `manifests/detections.parquet` when given; otherwise a
    detections file of an earlier run is removed, since it would describe clips this run did not verify.
    """
    out = Path(output_dir)
    outputs = sorted(outputs, key=lambda o: o.recording_id)  # clip ids start with the recording id
    tables = {
        "recordings": rows_to_table(sorted(recordings, key=lambda r: (r.source_folder, r.recording_id)),
                                    RECORDINGS_SCHEMA),
        "clips": _concat([o.clips for o in outputs], CLIPS_SCHEMA),
        "events": _concat([o.events for o in outputs], EVENTS_SCHEMA),
        "rejects": rows_to_table(sorted(rejects, key=lambda r: (r.stage, r.recording_id or "", r.clip_id or "",
                                                                r.reason)), REJECTS_SCHEMA),
    }
    detection_table = None
    if detections is not None:
        detection_table = _concat([d for d in detections if d.num_rows], DETECTIONS_SCHEMA).sort_by(
            [("clip_id", "ascending"), ("frame", "ascending"), ("x0", "ascending")])
    validate_manifests(tables["recordings"], tables["clips"], tables["events"], tables["rejects"], detection_table)
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    detections_path = out / "manifests" / "detections.parquet"
    # Renamed into place in the order staged: split lists, detections, then the manifests, whose presence means
    # every file they list is complete.
    with StagedFiles() as staged:
        written = {name: str(path) for name, path in write_split_lists(out, tables["clips"], staged).items()}
        if detection_table is not None:
            stage_parquet(staged, detections_path, detection_table)
            written["detections"] = str(detections_path)
        for name, table in tables.items():
            path = out / "manifests" / f"{name}.parquet"
            stage_parquet(staged, path, table)
            written[name] = str(path)
        if detection_table is None:
            # Only once every new file is written, before any is renamed into place.
            detections_path.unlink(missing_ok=True)
    run_logger(__name__).info("manifests: %s", ", ".join(f"{n} {t.num_rows} rows" for n, t in tables.items()))
    return written


def stage_parquet(staged: StagedFiles, path: Path, table: pa.Table) -> None:
    """Stage `table` as the Parquet file `path`, with the one compression every manifest is written with (zstd)."""
    pq.write_table(table, staged.stage(path), compression="zstd")


def write_split_lists(output_dir: Path, clips: pa.Table, staged: StagedFiles) -> dict[str, Path]:
    """Stage `splits/{split}.txt` for every split: the `video_path` of each clip whose `split` it is, one per line,
    in the clips table's order. Returns {"splits/<split>": path}; the files appear when `staged` commits."""
    (output_dir / "splits").mkdir(parents=True, exist_ok=True)
    split_of_clip = clips.column("split").to_pylist()
    video_paths = clips.column("video_path").to_pylist()
    written = {}
    for split in SPLITS:
        path = output_dir / "splits" / f"{split}.txt"
        lines = "".join(f"{v}\n" for v, s in zip(video_paths, split_of_clip) if s == split)
        staged.stage(path).write_text(lines, encoding="utf-8", newline="\n")
        written[f"splits/{split}"] = path
    return written


CLIP_DIRS = tuple(f"{kind}_{suffix}" for kind in ("video", "audio", "metadata") for suffix in ("dev", "eval"))


@task(name="prune-stale-outputs", cache_policy=NO_CACHE)
def prune_stale_outputs(output_dir: str, clip_ids: list[str], recording_ids: list[str]) -> int:
    """Delete clip files (and ledgers) that the manifests just written no longer list, e.g. a previous recipe's
    views, so the output folder holds exactly what the manifests describe. Returns the number of files removed."""
    out = Path(output_dir)
    keep = set(clip_ids)
    removed = 0
    for folder in CLIP_DIRS:
        for path in sorted((out / folder).glob("*")) if (out / folder).is_dir() else ():
            # Partial files of a killed run, and complete files of clips no longer curated.
            if path.is_file() and (is_partial(path) or path.stem not in keep):
                path.unlink()
                removed += 1
    known = set(recording_ids)
    ledger_dir = out / LEDGER_DIR
    for path in sorted(ledger_dir.glob("*.json")) if ledger_dir.is_dir() else ():
        if path.stem not in known:
            path.unlink()
    if removed:
        run_logger(__name__).info("removed %d stale clip files from %s", removed, out)
    return removed
