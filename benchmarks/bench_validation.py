"""Benchmark: manifest validation per row, today's vectorised validators against the row-by-row ones they replaced
(issue #13, goal: >= 10x faster per row), and `columns_to_table` on the events columns planning hands it.

1. A synthetic manifest set of `--events` event rows (default 2 M) over `--clips` clips (default 20 k, 200 per
   recording, 5 s each, two sources per label frame): dictionary-encoded class_name / target_class, x_px / y_px null
   offscreen, two rejected clips per recording and one rejected recording. Every table is a concatenation of one
   chunk per recording, as the merge of per-recording parts writes it, so dictionary columns have one dictionary
   per chunk.
2. `validate_manifests` on it, by the previous implementation (`data_contracts/manifests.py` at `--old-ref`, taken
   with `git show` and imported as a module of its own; best of `--old-repeat` runs) and by today's (best of
   `--repeat`). Both must accept the set. Printed: rows (all tables), wall and CPU seconds, rows/s, and new / old
   per row (wall: the figure compared with the goal; CPU beside it, as it moves less with the machine's load).
   Beside it, the streaming form the merge uses: `validate_part` on each recording's part, and
   `ManifestChecker.add_part` over the parts.
3. `columns_to_table` of 200 k events columns as `curation.plan.events_columns` built them before issue #13
   (object arrays holding None for nullable values), old and new, and as the new fast paths take them (numpy numeric,
   masked arrays for nullable numbers, Arrow arrays for dictionary columns).

Without git history (`--old-ref` not found) the old side is skipped and the figure recorded when this benchmark was
written is printed instead. It is a measurement, not a test: it exits 0 whether or not the goal is met.

Run it as a module from the repository root: `.venv/bin/python -m benchmarks.bench_validation [--events N]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa

from data_contracts import _tables
from data_contracts.classes import CLASS_NAMES
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    ManifestChecker,
    RecordingRow,
    make_clip_id,
    table_to_rows,
    validate_manifests,
    validate_part,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The last commit before issue #13: the row-by-row validators and the list-only columns_to_table.
OLD_REF = "2178807"
# Measured with this benchmark's defaults (2 M events, 20 k clips) on the shared 2-CPU machine it was written on,
# before the validators changed; printed when git cannot give the old implementation.
RECORDED_OLD_ROWS_PER_S = 350_000
GOAL_RATIO = 10.0

HASH = "0123456789abcdef"
SHA = "a" * 64
CLIPS_PER_RECORDING = 200
CLIP_LABEL_FRAMES = 50  # 5 s clips
SPEECH_IDS, INSTRUMENT_IDS = (0, 1), (8, 9)


def synthetic_manifests(n_events: int, n_clips: int, seed: int = 0) -> dict[str, pa.Table]:
    """A consistent recordings / clips / events / rejects set with about ``n_events`` events over ``n_clips`` clips."""
    return merged(*synthetic_parts(n_events, n_clips, seed))


def merged(recordings: pa.Table, parts: dict[str, dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """The manifests of ``parts`` merged in their order, with the discovery reject of the rejected recording."""
    return {"recordings": recordings,
            **{name: pa.concat_tables([part[name] for part in parts.values()]) for name in ("clips", "events")},
            "rejects": pa.concat_tables([part["rejects"] for part in parts.values()] + [_discovery_reject(recordings)])}


def synthetic_parts(n_events: int, n_clips: int, seed: int = 0) -> tuple[pa.Table, dict[str, dict[str, pa.Table]]]:
    """The recordings table and each ok recording's part (recording id -> clips / events / rejects) of the set
    synthetic_manifests gives."""
    rng = np.random.default_rng(seed)
    n_recordings = max(1, n_clips // CLIPS_PER_RECORDING)
    events_per_clip = max(2, n_events // (n_recordings * CLIPS_PER_RECORDING))
    recordings = []
    parts = {}
    for number in range(n_recordings):
        recording_id = f"fold{number % 6 + 1}_room{number % 20 + 1}_mix{number:03d}"
        split = "evaluation" if number % 5 == 4 else "generation"
        folder = "dev-test-sony" if split == "evaluation" else "dev-train-sony"
        recordings.append(_recording(recording_id, folder, split))
        clip_ids = [make_clip_id(recording_id, 5 * (k // 20), float(10 * (k % 20) - 90), 0.0)
                    for k in range(CLIPS_PER_RECORDING)]
        parts[recording_id] = {"clips": _clips(rng, recording_id, folder, split, clip_ids),
                               "events": _events(rng, recording_id, clip_ids, events_per_clip),
                               "rejects": _rejects(recording_id, number)}
    # A rejected recording, as discovery reports one.
    recordings.append(_recording(f"fold9_room99_mix{n_recordings:03d}", "dev-train-sony", "generation",
                                 status="rejected"))
    return pa.concat_tables(recordings), parts


def _discovery_reject(recordings: pa.Table) -> pa.Table:
    rejected = recordings.column("recording_id")[-1].as_py()
    return pa.Table.from_pydict(
        {"stage": ["discover"], "recording_id": [rejected], "clip_id": [None], "reason": ["no_video"],
         "detail": [f"no video_dev/*/{rejected}.mp4"], "recipe_hash": [HASH]}, schema=REJECTS_SCHEMA)


def _recording(recording_id: str, folder: str, split: str, status: str = "ok") -> pa.Table:
    ok = status == "ok"
    row = {
        "recording_id": recording_id, "source_folder": folder, "split": split,
        "audio_path": f"foa_dev/{folder}/{recording_id}.wav",
        "video_path": f"video_dev/{folder}/{recording_id}.mp4" if ok else None,
        "metadata_path": f"metadata_dev/{folder}/{recording_id}.csv", "duration_s": 300.0 if ok else None,
        "status": status, "reason": None if ok else "no_video", "audio_sha256": SHA if ok else None,
        "video_sha256": SHA if ok else None, "metadata_sha256": SHA if ok else None, "recipe_hash": HASH,
        "video_start_s": 0.0 if ok else None, "video_gaps": 0 if ok else None, "trimmed_s": 0.0 if ok else None,
        "annotation_rows_dropped": 0 if ok else None,
    }
    return pa.Table.from_pylist([row], schema=RECORDINGS_SCHEMA)


def _clips(rng: np.random.Generator, recording_id: str, folder: str, split: str, clip_ids: list[str]) -> pa.Table:
    n = len(clip_ids)
    start_frame = np.array([5 * (k // 20) for k in range(n)], dtype=np.int32)
    counts = rng.integers(0, CLIP_LABEL_FRAMES + 1, size=(3, n)).astype(np.int32)
    columns = {
        "clip_id": pa.array(clip_ids),
        "split": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([split])),
        "recording_id": pa.array([recording_id] * n),
        "source_folder": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([folder])),
        "start_frame": pa.array(start_frame),
        "start_s": pa.array(np.round(start_frame * 0.1, 6)),
        "duration_s": pa.array(np.full(n, CLIP_LABEL_FRAMES * 0.1)),
        "view_azimuth_deg": pa.array([float(10 * (k % 20) - 90) for k in range(n)]),
        "view_elevation_deg": pa.array(np.zeros(n)),
        "h_fov_deg": pa.array(np.full(n, 100.0)),
        "v_fov_deg": pa.array(np.full(n, 67.67274797076357)),
        "onscreen_frames": pa.array(counts[0]),
        "n_speech_frames": pa.array(counts[1]),
        "n_instrument_frames": pa.array(counts[2]),
        "target_class": pa.array(np.where(counts[2] > counts[1], "instrument", "speech")),
        "video_path": pa.array([f"{split}/video/{c}.mp4" for c in clip_ids]),
        "audio_path": pa.array([f"{split}/audio/{c}.wav" for c in clip_ids]),
        "metadata_path": pa.array([f"{split}/metadata/{c}.csv" for c in clip_ids]),
        "foa_path": pa.nulls(n, pa.string()),  # a stereo-only recipe writes no FOA files
        "recipe_hash": pa.array([HASH] * n),
        "visual_confirmation_rate": pa.nulls(n, pa.float64()),
    }
    return pa.Table.from_pydict(columns, schema=CLIPS_SCHEMA)


def _event_arrays(rng: np.random.Generator, recording_id: str, clip_ids: list[str],
                  events_per_clip: int) -> dict[str, np.ndarray]:
    """One recording's events as numpy arrays: numbers, a mask of onscreen events, clip ids as an object array."""
    n_clips = len(clip_ids)
    n = n_clips * events_per_clip
    per_frame = -(-events_per_clip // CLIP_LABEL_FRAMES)
    position = np.tile(np.arange(events_per_clip), n_clips)
    class_id = rng.integers(0, len(CLASS_NAMES), size=n).astype(np.int16)
    onscreen = rng.random(n) < 0.3
    return {
        "clip_id": np.repeat(np.array(clip_ids, dtype=object), events_per_clip),
        "recording_id": np.full(n, recording_id, dtype=object),
        "frame": (position // per_frame).astype(np.int32),
        "class_id": class_id,
        "source_index": (position % per_frame).astype(np.int16),
        "azimuth_deg": np.round(rng.uniform(-180, 180, n), 3),
        "elevation_deg": np.round(rng.uniform(-90, 90, n), 3),
        "onscreen": onscreen,
        "x_px": np.round(rng.uniform(0, 256, n), 2),
        "y_px": np.round(rng.uniform(0, 144, n), 2),
    }


def _target_index(class_id: np.ndarray) -> np.ndarray:
    """Index into ("speech", "instrument") of each class id, -1 for the other classes."""
    lookup = np.full(len(CLASS_NAMES), -1, dtype=np.int32)
    lookup[list(SPEECH_IDS)] = 0
    lookup[list(INSTRUMENT_IDS)] = 1
    return lookup[class_id]


def _events(rng: np.random.Generator, recording_id: str, clip_ids: list[str], events_per_clip: int) -> pa.Table:
    arrays = _event_arrays(rng, recording_id, clip_ids, events_per_clip)
    n = len(arrays["frame"])
    target = _target_index(arrays["class_id"])
    offscreen = ~arrays["onscreen"]
    columns = {
        "clip_id": pa.array(arrays["clip_id"], type=pa.string()),
        "recording_id": pa.array(arrays["recording_id"], type=pa.string()),
        "frame": pa.array(arrays["frame"]),
        "class_id": pa.array(arrays["class_id"]),
        "class_name": pa.DictionaryArray.from_arrays(pa.array(arrays["class_id"].astype(np.int32)),
                                                     pa.array(list(CLASS_NAMES.values()))),
        "target_class": pa.DictionaryArray.from_arrays(pa.array(target, mask=target < 0),
                                                       pa.array(["speech", "instrument"])),
        "source_index": pa.array(arrays["source_index"]),
        "azimuth_deg": pa.array(arrays["azimuth_deg"]),
        "elevation_deg": pa.array(arrays["elevation_deg"]),
        "onscreen": pa.array(arrays["onscreen"]),
        "x_px": pa.array(arrays["x_px"], mask=offscreen),
        "y_px": pa.array(arrays["y_px"], mask=offscreen),
        "recipe_hash": pa.array(np.full(n, HASH, dtype=object), type=pa.string()),
        "visually_confirmed": pa.nulls(n, pa.bool_()),
    }
    return pa.Table.from_pydict(columns, schema=EVENTS_SCHEMA)


def _rejects(recording_id: str, number: int) -> pa.Table:
    """Two clips of the recording that render refused: ids of windows past the kept ones."""
    clip_ids = [make_clip_id(recording_id, 500 + 5 * k, 0.0, 0.0) for k in range(2)]
    return pa.Table.from_pydict({
        "stage": ["render"] * 2, "recording_id": [recording_id] * 2, "clip_id": clip_ids,
        "reason": ["clipped"] * 2, "detail": [f"clip {c} clipped at {number % 7 + 1} samples" for c in clip_ids],
        "recipe_hash": [HASH] * 2}, schema=REJECTS_SCHEMA)


def events_columns_before(rng: np.random.Generator, n_events: int) -> dict[str, np.ndarray]:
    """Events columns as `events_columns` returned them before issue #13: object arrays with None where absent."""
    clip_ids = [make_clip_id("fold3_room21_mix001", 5 * k, 0.0, 0.0) for k in range(max(1, n_events // 100))]
    arrays = _event_arrays(rng, "fold3_room21_mix001", clip_ids, 100)
    class_names = np.array(list(CLASS_NAMES.values()), dtype=object)
    target_names = np.array(["speech", "instrument", None], dtype=object)
    onscreen = arrays["onscreen"]
    n = len(onscreen)
    return {
        "clip_id": arrays["clip_id"], "recording_id": arrays["recording_id"], "frame": arrays["frame"],
        "class_id": arrays["class_id"], "class_name": class_names[arrays["class_id"]],
        "target_class": target_names[_target_index(arrays["class_id"])], "source_index": arrays["source_index"],
        "azimuth_deg": arrays["azimuth_deg"], "elevation_deg": arrays["elevation_deg"], "onscreen": onscreen,
        "x_px": np.where(onscreen, arrays["x_px"].astype(object), None),
        "y_px": np.where(onscreen, arrays["y_px"].astype(object), None),
        "recipe_hash": np.full(n, HASH, dtype=object), "visually_confirmed": np.full(n, None, dtype=object),
    }


def events_columns_fast(before: dict[str, np.ndarray]) -> dict[str, object]:
    """The same columns in the forms the new `columns_to_table` converts without per-value Python work."""
    onscreen = before["onscreen"]
    class_id = before["class_id"]
    target = _target_index(class_id)
    x_px = np.array([v if v is not None else 0.0 for v in before["x_px"]], dtype=np.float64)
    y_px = np.array([v if v is not None else 0.0 for v in before["y_px"]], dtype=np.float64)
    return {
        **before,
        "class_name": pa.DictionaryArray.from_arrays(pa.array(class_id.astype(np.int32)),
                                                     pa.array(list(CLASS_NAMES.values()))),
        "target_class": pa.DictionaryArray.from_arrays(pa.array(target, mask=target < 0),
                                                       pa.array(["speech", "instrument"])),
        "x_px": np.ma.masked_array(x_px, mask=~onscreen),
        "y_px": np.ma.masked_array(y_px, mask=~onscreen),
        "visually_confirmed": np.ma.masked_array(np.zeros(len(onscreen), dtype=bool), mask=True),
    }


def old_module(ref: str, relative_path: str, module_name: str) -> ModuleType | None:
    """``relative_path`` as it was at git ``ref``, imported as ``module_name`` (None without that history)."""
    try:
        source = subprocess.run(["git", "show", f"{ref}:{relative_path}"], cwd=PROJECT_ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.TemporaryDirectory(prefix="savgbench-old-") as folder:
        path = Path(folder) / f"{module_name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def best_seconds(function: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of the fastest of ``repeat`` calls."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


def _row(label: str, seconds: tuple[float, float], n_rows: int) -> None:
    print(f"{label:<34}{seconds[0]:>10.3f}{seconds[1]:>10.3f}{n_rows / seconds[0]:>14,.0f}")


HEADER = f"{'seconds: wall':>44}{'CPU':>10}{'rows/s':>14}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="event rows (default 2,000,000)")
    parser.add_argument("--clips", type=int, default=20_000, help="kept clips (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the new code (best kept; default 3)")
    parser.add_argument("--old-repeat", type=int, default=1, help="timed runs of the old code (default 1)")
    parser.add_argument("--old-ref", default=OLD_REF, help=f"git revision of the old code (default {OLD_REF})")
    parser.add_argument("--no-old", action="store_true", help="time the new code only")
    parser.add_argument("--columns-events", type=int, default=200_000,
                        help="event rows of the columns_to_table figure (default 200,000)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    recordings, parts = synthetic_parts(args.events, args.clips)
    tables = merged(recordings, parts)
    arguments = [tables[name] for name in ("recordings", "clips", "events", "rejects")]
    n_rows = sum(table.num_rows for table in arguments)
    print(f"synthetic set: {tables['recordings'].num_rows:,} recordings, {tables['clips'].num_rows:,} clips, "
          f"{tables['events'].num_rows:,} events, {tables['rejects'].num_rows:,} rejects "
          f"({time.perf_counter() - start:.1f} s to build)")

    new_s = best_seconds(lambda: validate_manifests(*arguments), args.repeat)
    old = None if args.no_old else old_module(args.old_ref, "data_contracts/manifests.py", "_old_manifests")
    print(f"\nvalidate_manifests, {n_rows:,} rows (best of {args.repeat} new, {args.old_repeat} old)")
    print(HEADER)
    _row("new (vectorised)", new_s, n_rows)
    if old is not None:
        # The old code's tables: the columns its schemas have (the clips' target_class came later).
        old_arguments = [table.select([name for name in table.column_names if name in schema.names])
                         for table, schema in zip(arguments, (old.RECORDINGS_SCHEMA, old.CLIPS_SCHEMA,
                                                              old.EVENTS_SCHEMA, old.REJECTS_SCHEMA))]
        old_s = best_seconds(lambda: old.validate_manifests(*old_arguments), args.old_repeat)
        old_rate = n_rows / old_s[0]
        _row(f"old ({args.old_ref}, row by row)", old_s, n_rows)
        print(f"new / old per row, in CPU seconds: {old_s[1] / new_s[1]:.1f}x")
    else:
        old_rate = RECORDED_OLD_ROWS_PER_S
        print(f"{'old (recorded figure)':<34}{'':>20}{old_rate:>14,.0f}")
    ratio = (n_rows / new_s[0]) / old_rate
    print(f"new / old per row: {ratio:.1f}x (goal >= {GOAL_RATIO:g}x: {'met' if ratio >= GOAL_RATIO else 'NOT MET'})")

    rows_by_id = {row.recording_id: row for row in table_to_rows(recordings, RecordingRow)}
    part_rows = sum(table.num_rows for part in parts.values() for table in part.values())

    def check_parts() -> None:
        for recording_id, part in parts.items():
            validate_part(rows_by_id[recording_id], part["clips"], part["events"], part["rejects"])

    def stream_parts() -> None:
        checker = ManifestChecker(recordings)
        for recording_id in sorted(parts):
            part = parts[recording_id]
            checker.add_part(recording_id, part["clips"], part["events"], part["rejects"])
        checker.finish()

    print(f"\nstreaming form, {len(parts)} parts, {part_rows:,} rows")
    print(HEADER)
    for label, function in (("validate_part, every part", check_parts),
                            ("ManifestChecker over the parts", stream_parts)):
        _row(label, best_seconds(function, args.repeat), part_rows)

    before = events_columns_before(np.random.default_rng(1), args.columns_events)
    fast = events_columns_fast(before)
    n_columns_rows = len(before["frame"])
    old_tables = None if args.no_old else old_module(args.old_ref, "data_contracts/_tables.py", "_old_tables")
    print(f"\ncolumns_to_table, one recording's events columns, {n_columns_rows:,} rows")
    print(HEADER)
    runs = [("new / object arrays", _tables.columns_to_table, before),
            ("new / numpy, masked, Arrow", _tables.columns_to_table, fast)]
    if old_tables is not None:
        runs.insert(0, ("old / object arrays", old_tables.columns_to_table, before))
    for label, function, columns in runs:
        function(columns, EVENTS_SCHEMA)  # warm up: the first conversion pays for imports and allocations
        _row(label, best_seconds(lambda f=function, c=columns: f(c, EVENTS_SCHEMA), args.repeat), n_columns_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
