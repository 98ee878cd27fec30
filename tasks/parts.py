"""Per-recording parts: one recording's rows of the manifests, on disk, from which the manifests are merged.

`<output>/.savgbench/parts/<recording_id>/` holds `clips.parquet`, `events.parquet`, `rejects.parquet` (the clip
rejects of that recording; a recording rejected as a whole has no part), `detections.parquet` once verified, and
`part.json`: the part's key, the recording's row, its candidate and qualifying pair counts, its clips per target
class at each stage of the selection (`PartInfo.funnel`) and each table's row count. The render task (or, planning
only, the plan-part task) writes a recording's part and hands the flow back only such counts, so the flow never
holds the rows of all recordings; `tasks.manifests.write_manifests` merges the parts, one at a time.

A part is written as a set: into a hidden folder beside it (`.<recording_id>.partial`), validated
(`data_contracts.manifests.validate_part`), then renamed into place, the old part renamed aside first and deleted
after; a kill between those two renames leaves no part, which the next run writes again. Like the ledger
(`tasks.ledger`), a part is keyed: `part_key` digests everything its rows depend on (the recording's row, hashes of
its input files included, the whole recipe, `PART_VERSION`, how the rows were made: rendered, or planned only, and,
with a clip budget, the recording's budget thresholds, which depend on the other recordings), and
`verified_part_key` adds the verification settings. A run whose key matches the part on disk reuses it (the
part is the cache of a finished recording); another key writes it again. Bump `PART_VERSION` when the rows a part
holds change for the same inputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from curation.render import RENDER_VERSION
from data_contracts._atomic import STATE_DIR, fsync_file, partial_path
from data_contracts.errors import ContractError
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    DETECTIONS_SCHEMA,
    EVENTS_SCHEMA,
    REJECTS_SCHEMA,
    RecordingRow,
    validate_part,
)
from data_contracts.recipe import Recipe
from tasks.ledger import verify_key

__all__ = ["PART_VERSION", "PARTS_DIR", "PART_TABLES", "PLANNED", "RENDERED", "PartInfo", "part_dir", "part_key",
           "verified_part_key", "write_part", "load_part_info", "read_part", "delete_part", "prune_parts"]

PART_VERSION = 4
PARTS_DIR = STATE_DIR / "parts"
# The tables of a part, in the order they are merged; detections only in a verified part.
PART_TABLES: dict[str, pa.Schema] = {"clips": CLIPS_SCHEMA, "events": EVENTS_SCHEMA, "rejects": REJECTS_SCHEMA,
                                     "detections": DETECTIONS_SCHEMA}
# How a part's rows were made: rendered (clip files written, clipped clips rejected) or planned only (no media).
RENDERED, PLANNED = "rendered", "planned"
_INFO_NAME = "part.json"


@dataclass(frozen=True)
class PartInfo:
    """What `part.json` holds: the part's key, the recording's row, the recording's candidate and qualifying
    (window, view) pairs, the row count of each table the part has (detections only when verified), and `funnel`:
    the recording's clips per target class at each stage of the selection (stage -> {target class -> count}, as
    `tasks.curate_recording.RecordingSummary.funnel`; empty when the writer gave none)."""

    recording_id: str
    key: str
    recording: RecordingRow
    n_candidates: int
    n_qualifying: int
    rows: dict[str, int]
    # Left out of hash(): a dict has none (equality still compares it).
    funnel: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict, hash=False)

    @property
    def verified(self) -> bool:
        """Whether the part went through visual verification (it then has detections)."""
        return "detections" in self.rows

    def to_json(self) -> str:
        """The part.json text: sorted keys, so one part always gives the same bytes."""
        return json.dumps({"part_version": PART_VERSION, "recording_id": self.recording_id, "key": self.key,
                           "recording": dataclasses.asdict(self.recording), "n_candidates": self.n_candidates,
                           "n_qualifying": self.n_qualifying, "rows": self.rows, "funnel": self.funnel},
                          sort_keys=True, indent=0) + "\n"


def part_dir(output_dir: str | os.PathLike[str], recording_id: str) -> Path:
    """The folder of a recording's part: `<output>/.savgbench/parts/<recording_id>`."""
    return Path(output_dir) / PARTS_DIR / recording_id


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def part_key(row: RecordingRow, recipe: Recipe, made: str, thresholds: Mapping[str, int] | None = None,
             drawn: Sequence[str] | None = None) -> str:
    """Digest of everything a part's rows depend on: the recording's row (split, duration, input file hashes, ...),
    the whole recipe (its hash is in every row), `PART_VERSION`, `made` (`RENDERED`, with the renderer's version,
    or `PLANNED`), `thresholds`, the clip budget's hash thresholds of the recording's split (target class ->
    threshold; None without a budget: the key is then the one it was before budgets existed), and with random
    sampling, `drawn`, the clip ids drawn from the recording (any order)."""
    if made not in (RENDERED, PLANNED):
        raise ValueError(f"part made={made!r}, expected {RENDERED!r} or {PLANNED!r}")
    payload = {"part_version": PART_VERSION, "made": made, "recording": dataclasses.asdict(row),
               "recipe": recipe.to_dict()}
    if thresholds is not None:
        payload["thresholds"] = {target: int(threshold) for target, threshold in thresholds.items()}
    if drawn is not None:
        payload["drawn"] = sorted(drawn)
    if made == RENDERED:
        payload["render_version"] = RENDER_VERSION
    return _digest(payload)


def verified_part_key(key: str, recipe: Recipe) -> str:
    """The key of the part of key `key` once verified with the recipe's verification settings."""
    return _digest({"part": key, "verify_key": verify_key(recipe)})


def _conform(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    """`table` with exactly `schema` (its metadata too); ContractError naming `path` when columns or types differ."""
    if table.schema.names != schema.names:
        raise ContractError(f"{path}: columns {table.schema.names}, expected {schema.names}")
    for field in schema:
        actual = table.schema.field(field.name).type
        if actual != field.type:
            raise ContractError(f"{path}: column {field.name} has type {actual}, expected {field.type}")
    return table.replace_schema_metadata(schema.metadata)


def write_part(output_dir: str | os.PathLike[str], recording: RecordingRow, key: str, n_candidates: int,
               n_qualifying: int, tables: Mapping[str, pa.Table],
               funnel: Mapping[str, Mapping[str, int]] | None = None) -> PartInfo:
    """Validate a recording's tables (`clips`, `events`, `rejects`, and `detections` for a verified part) and write
    them as its part under `key`, replacing the part there was, with `funnel` (`PartInfo.funnel`; None: empty).
    Returns the part's info (its part.json)."""
    names = [name for name in PART_TABLES if name in tables]
    if names[:3] != ["clips", "events", "rejects"] or set(tables) - set(names):
        raise ValueError(f"part tables {sorted(tables)}: expected clips, events, rejects and optionally detections")
    recording_id = recording.recording_id
    final = part_dir(output_dir, recording_id)
    conformed = {name: _conform(tables[name], PART_TABLES[name], final / f"{name}.parquet") for name in names}
    validate_part(recording, conformed["clips"], conformed["events"], conformed["rejects"], conformed.get("detections"))
    counts = {stage: {target: int(n) for target, n in by_class.items()} for stage, by_class in (funnel or {}).items()}
    info = PartInfo(recording_id, key, recording, n_candidates, n_qualifying,
                    {name: table.num_rows for name, table in conformed.items()}, counts)
    staging = partial_path(final)
    shutil.rmtree(staging, ignore_errors=True)  # left by a write killed before its rename
    staging.mkdir(parents=True)
    try:
        for name, table in conformed.items():
            # One row group: the merge copies a part as one row group of each manifest.
            pq.write_table(table, staging / f"{name}.parquet", compression="zstd",
                           row_group_size=max(1, table.num_rows))
        (staging / _INFO_NAME).write_text(info.to_json(), encoding="utf-8", newline="\n")
        # Durable before it is renamed into place, as ledgers are: a power loss leaves the old part or this one.
        for path in [*staging.iterdir(), staging]:
            fsync_file(path)
        aside = final.with_name(f".{final.name}.replaced-{secrets.token_hex(3)}")
        if final.exists():
            os.rename(final, aside)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return info


def load_part_info(output_dir: str | os.PathLike[str], recording_id: str) -> PartInfo | None:
    """The info of a recording's part; None when it has none (or an unreadable one, or one of another
    `PART_VERSION`)."""
    try:
        stored = json.loads((part_dir(output_dir, recording_id) / _INFO_NAME).read_text(encoding="utf-8"))
        if stored.get("part_version") != PART_VERSION or stored.get("recording_id") != recording_id:
            return None
        return PartInfo(recording_id, stored["key"], RecordingRow(**stored["recording"]), stored["n_candidates"],
                        stored["n_qualifying"], dict(stored["rows"]), dict(stored["funnel"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def read_part(output_dir: str | os.PathLike[str], recording_id: str, name: str,
              columns: list[str] | None = None) -> pa.Table:
    """One table of a recording's part (all its columns, or `columns`), with the manifest's schema."""
    path = part_dir(output_dir, recording_id) / f"{name}.parquet"
    schema = PART_TABLES[name]
    if not path.is_file():
        raise ContractError(f"{path}: missing: the part of {recording_id!r} has no {name} table")
    table = pq.read_table(path, columns=columns)
    if columns is not None:
        schema = pa.schema([schema.field(column) for column in columns], metadata=schema.metadata)
    return _conform(table, schema, path)


def delete_part(output_dir: str | os.PathLike[str], recording_id: str) -> None:
    """Remove a recording's part, if any."""
    shutil.rmtree(part_dir(output_dir, recording_id), ignore_errors=True)


def prune_parts(output_dir: str | os.PathLike[str], recording_ids) -> int:
    """Remove the parts of recordings not in `recording_ids`, and what killed writes left (partial folders, old
    parts renamed aside). Returns the number of parts removed."""
    folder = Path(output_dir) / PARTS_DIR
    keep = set(recording_ids)
    removed = 0
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        if entry.name.startswith(".") or entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed += not entry.name.startswith(".")
    return removed
