"""Write the manifests (Parquet, explicit schemas) and the split lists, atomically and last."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from data_contracts.manifests import (
    CLIPS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    rows_to_table,
    validate_manifests,
)
from data_contracts.classes import SPLITS

TABLES = {"recordings": RECORDINGS_SCHEMA, "clips": CLIPS_SCHEMA, "events": EVENTS_SCHEMA, "rejects": REJECTS_SCHEMA}


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    write(tmp)
    os.replace(tmp, path)


@task(name="write-manifests", cache_policy=NO_CACHE)
def write_manifests(output_dir: str, recordings, clips, events, rejects) -> dict[str, str]:
    """Validate the four tables together, then write `manifests/*.parquet` and `splits/*.txt`.

    Rows are sorted by their ids so the files are byte-identical for the same inputs and recipe.
    """
    out = Path(output_dir)
    rows = {
        "recordings": sorted(recordings, key=lambda r: (r.source_folder, r.recording_id)),
        "clips": sorted(clips, key=lambda c: c.clip_id),
        "events": sorted(events, key=lambda e: (e.clip_id, e.frame, e.class_id, e.source_index)),
        "rejects": sorted(rejects, key=lambda r: (r.stage, r.recording_id or "", r.clip_id or "", r.reason)),
    }
    tables = {name: rows_to_table(rows[name], schema) for name, schema in TABLES.items()}
    validate_manifests(tables["recordings"], tables["clips"], tables["events"], tables["rejects"])
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    (out / "splits").mkdir(parents=True, exist_ok=True)
    written = {}
    for split in SPLITS:
        path = out / "splits" / f"{split}.txt"
        lines = "".join(f"{c.video_path}\n" for c in rows["clips"] if c.split == split)
        _write_atomic(path, lambda tmp: tmp.write_text(lines))
        written[f"splits/{split}"] = str(path)
    # Manifests last: their presence means every file they list is complete.
    for name, table in tables.items():
        path = out / "manifests" / f"{name}.parquet"
        _write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        written[name] = str(path)
    get_run_logger().info("manifests: %s", ", ".join(f"{n} {t.num_rows} rows" for n, t in tables.items()))
    return written
