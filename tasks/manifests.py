"""Write the manifests (Parquet, explicit schemas) and the split lists, atomically and last."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

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
from tasks.ledger import LEDGER_DIR

TABLES = {"recordings": RECORDINGS_SCHEMA, "clips": CLIPS_SCHEMA, "events": EVENTS_SCHEMA, "rejects": REJECTS_SCHEMA}


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    write(tmp)
    os.replace(tmp, path)


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
    (out / "splits").mkdir(parents=True, exist_ok=True)
    written = {}
    clip_split = tables["clips"].column("split").to_pylist()
    video_paths = tables["clips"].column("video_path").to_pylist()
    for split in SPLITS:
        path = out / "splits" / f"{split}.txt"
        lines = "".join(f"{v}\n" for v, s in zip(video_paths, clip_split) if s == split)
        _write_atomic(path, lambda tmp: tmp.write_text(lines))
        written[f"splits/{split}"] = str(path)
    detections_path = out / "manifests" / "detections.parquet"
    if detection_table is not None:
        _write_atomic(detections_path, lambda tmp: pq.write_table(detection_table, tmp, compression="zstd"))
        written["detections"] = str(detections_path)
    else:
        detections_path.unlink(missing_ok=True)
    # Manifests last: their presence means every file they list is complete.
    for name, table in tables.items():
        path = out / "manifests" / f"{name}.parquet"
        _write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        written[name] = str(path)
    get_run_logger().info("manifests: %s", ", ".join(f"{n} {t.num_rows} rows" for n, t in tables.items()))
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
            stem = path.name[1:].split(".partial")[0] if path.name.startswith(".") else path.stem
            if path.is_file() and (path.name.startswith(".") or stem not in keep):
                path.unlink()
                removed += 1
    known = set(recording_ids)
    ledger_dir = out / LEDGER_DIR
    for path in sorted(ledger_dir.glob("*.json")) if ledger_dir.is_dir() else ():
        if path.stem not in known:
            path.unlink()
    if removed:
        get_run_logger().info("removed %d stale clip files from %s", removed, out)
    return removed
