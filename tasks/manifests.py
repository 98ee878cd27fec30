"""Write the manifests (Parquet, explicit schemas) and the split lists, last and as one release: readers never see
the files of two runs mixed (`data_contracts._atomic.Release`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from data_contracts._atomic import Release, is_partial
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
    """Validate the four tables together, then publish `manifests/*.parquet` and `splits/*.txt` as one release.

    `outputs` are the recordings' RecordingOutput (clips and events tables, each sorted by clip id). Rows are
    ordered by their ids so the files are byte-identical for the same inputs and recipe. `detections` (tables of
    the verification stage, one per recording) is written as `manifests/detections.parquet` when given; otherwise
    the new release has no detections file, since one of an earlier run would describe clips this run did not
    verify. Returns {"recordings"|"clips"|"events"|"rejects"[|"detections"]: `OUT/manifests/<name>.parquet`,
    "splits/<split>": `OUT/splits/<split>.txt`}, paths through the published symlinks.
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
    with Release(out) as release:
        written = {name: str(path) for name, path in write_split_lists(release, tables["clips"]).items()}
        if detection_table is not None:
            written["detections"] = str(stage_parquet(release, "detections", detection_table))
        for name, table in tables.items():
            written[name] = str(stage_parquet(release, name, table))
    counts = ", ".join(f"{n} {t.num_rows} rows" for n, t in tables.items())
    run_logger(__name__).info("manifests: %s; release %s", counts, release.release_id)
    return written


def stage_parquet(release: Release, name: str, table: pa.Table) -> Path:
    """Stage `table` as `manifests/{name}.parquet` of `release`, with the one compression every manifest is written
    with (zstd). Returns the path it is read at once published: `OUT/manifests/{name}.parquet`."""
    rel = f"manifests/{name}.parquet"
    pq.write_table(table, release.stage(rel), compression="zstd")
    return release.output_dir / rel


def write_split_lists(release: Release, clips: pa.Table) -> dict[str, Path]:
    """Stage `splits/{split}.txt` of `release` for every split: the `video_path` of each clip whose `split` it is,
    one per line, in the clips table's order. Returns {"splits/<split>": `OUT/splits/<split>.txt`}; the files
    appear there when the release is published."""
    split_of_clip = clips.column("split").to_pylist()
    video_paths = clips.column("video_path").to_pylist()
    written = {}
    for split in SPLITS:
        rel = f"splits/{split}.txt"
        lines = "".join(f"{v}\n" for v, s in zip(video_paths, split_of_clip) if s == split)
        release.stage(rel).write_text(lines, encoding="utf-8", newline="\n")
        written[f"splits/{split}"] = release.output_dir / rel
    return written


CLIP_DIRS = tuple(f"{kind}_{suffix}" for kind in ("video", "audio", "metadata") for suffix in ("dev", "eval"))


@task(name="prune-stale-outputs", cache_policy=NO_CACHE)
def prune_stale_outputs(output_dir: str, clip_ids: list[str], recording_ids: list[str]) -> int:
    """Delete clip files (and ledgers) that the manifests just written no longer list, e.g. a previous recipe's
    views, so the output folder holds exactly what the manifests describe. Returns the number of files removed.
    Only the clip folders and the ledger folder are looked at: the releases (`.savgbench/releases`) are
    `Release`'s to keep or delete."""
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
