"""Visual verification of onscreen speech labels: a person detector on every frame of every kept clip, run once
per view frame.

Each onscreen speech event gets `visually_confirmed` by the Spatial AV-Align rule with its annotated x instead of
an estimated one (`curation.metric.av_align`); each clip gets the confirmed fraction, `visual_confirmation_rate`; the
boxes go to `manifests/detections.parquet`, per clip frame. With the recipe's `min_visual_confirmation`, clips below
it are rejected (stage "verify", reason "not_visually_confirmed") and their files removed, as the render stage does;
the curate flow's rejects are also recorded in the recording's ledger (`tasks.ledger`), so a rerun with the same
verification settings neither renders nor verifies them again.

The detector sees each (recording, view, grid tick) that a clip shows once, on the picture remapped from the 360°
source, the recording's video decoded once (`curation.metric.view_frames`); every clip frame takes the boxes of its
(view, tick). The clip files are not decoded again. Progress (frames, rate, time left) is logged every 10 s.

Three entry points share `verify_clips`: the `verify_part` task (in the curate flow, between rendering and the
manifests: it verifies a recording's part, `tasks.parts`), the `verify_recording` task (a recording's tables held in
memory) and `verify_output_dir` (`savgbench verify OUT --source SRC`, on a finished output folder, whole tables).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.metric.av_align import match_boxes
from curation.metric.detect import DetectFn, Detections, cached_detector, people_detect_fn
from curation.metric.progress import Progress
from curation.metric.view_frames import ViewKey, clip_detections, clip_grid_ticks, detect_view_frames
from curation.media import probe_media
from curation.selection import clip_target_class
from data_contracts._atomic import Release
from data_contracts.errors import ContractError
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    DETECTIONS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    RecordingRow,
    RejectRow,
    rows_to_table,
    table_to_rows,
    validate_manifests,
)
from data_contracts.recipe import Recipe
from tasks._run_context import run_logger
from tasks.curate_recording import RecordingOutput, RecordingSummary
from tasks.discover import sha256_file
from tasks.ledger import Ledger, verify_key
from tasks.manifests import sort_rejects, stage_parquet, write_split_lists
from tasks.parts import load_part_info, part_dir, read_part, verified_part_key, write_part
from tasks.report import refresh_summary
from tasks.run_lock import OutputLock

__all__ = ["VerifiedClips", "VerifiedRecording", "detect_clips", "verify_clips", "verify_recording", "verify_part",
           "verify_output_dir", "source_videos", "recipe_detect", "STAGE", "REASON"]

STAGE = "verify"
REASON = "not_visually_confirmed"


@dataclasses.dataclass(frozen=True)
class VerifiedClips:
    """`verify_clips`' result: the clips and events tables with their verification columns set, rejected clips
    removed; the detections of the kept clips; one reject row per rejected clip and the rejected clips' files
    (paths relative to the output root, still on disk); counts for the log: `n_frames` clip frames verified,
    `n_detector_frames` pictures the detector saw (one per distinct (recording, view, tick))."""

    clips: pa.Table
    events: pa.Table
    detections: pa.Table
    rejects: list[RejectRow]
    rejected_files: list[str]
    n_checked: int
    n_confirmed: int
    n_frames: int
    n_detector_frames: int = 0


def recipe_detect(recipe: Recipe) -> DetectFn:
    """The recipe's person detector (weights, classes, input size, score threshold).

    Loading is once per process; errors are `curation.metric.detect.DetectorError`s saying how to provide weights.
    """
    detector = cached_detector(recipe.detector_weights, recipe.detector_person_classes,
                               recipe.detector_image_size_px)
    return people_detect_fn(detector, recipe.detector_score_threshold)


def _view_of(clip: dict) -> ViewKey:
    return (clip["view_azimuth_deg"], clip["view_elevation_deg"], clip["h_fov_deg"], clip["v_fov_deg"])


def detect_clips(clips: pa.Table, recipe: Recipe, detect: DetectFn, source_videos: Mapping[str, Path],
                 log: Callable[[str], None]) -> tuple[dict[str, Detections], int]:
    """The person boxes of every clip in `clips`, per clip frame ({clip_id: Detections}, frame = clip frame), and
    the number of pictures the detector saw.

    Per recording (`source_videos[recording_id]`, its 360° video), each (view, grid tick) some clip shows is
    detected once (`curation.metric.view_frames.detect_view_frames`); progress goes to `log` every 10 s and at the
    end. Raises ContractError naming a recording without a source video, MediaError for a video that cannot be
    decoded as far as its clips need.
    """
    rows = clips.select(["clip_id", "recording_id", "start_frame", "view_azimuth_deg", "view_elevation_deg",
                         "h_fov_deg", "v_fov_deg"]).to_pylist()
    wanted: dict[str, dict[ViewKey, set[int]]] = {}
    rows_of_recording: dict[str, list[dict]] = {}
    for clip in rows:
        clip["ticks"] = clip_grid_ticks(clip["start_frame"], recipe)
        wanted.setdefault(clip["recording_id"], {}).setdefault(_view_of(clip), set()).update(clip["ticks"])
        rows_of_recording.setdefault(clip["recording_id"], []).append(clip)
    missing = sorted(set(wanted) - set(source_videos))
    if missing:
        raise ContractError(f"no source video given for recording(s) {', '.join(missing)}, whose clips are to be "
                            "verified")
    total = sum(len(ticks) for views in wanted.values() for ticks in views.values())
    boxes: dict[str, Detections] = {}
    with Progress("verify", total, log) as progress:
        for recording_id, views in wanted.items():
            video = Path(source_videos[recording_id])
            info = probe_media(video)
            found = detect_view_frames(video, (info.width_px, info.height_px), views, recipe, detect,
                                       on_frames=progress.advance)
            for clip in rows_of_recording[recording_id]:
                boxes[clip["clip_id"]] = clip_detections(_view_of(clip), clip["ticks"], found)
    return boxes, total


def verify_clips(clips: pa.Table, events: pa.Table, recipe: Recipe, detect: DetectFn, recipe_hash: str,
                 source_videos: Mapping[str, Path], log: Callable[[str], None]) -> VerifiedClips:
    """Detect people in every frame of every clip in `clips` (once per view frame of its recording's source video,
    `source_videos[recording_id]`: `detect_clips`), confirm its onscreen speech events and apply the recipe's
    `min_visual_confirmation`. Files are not touched: the caller deletes `rejected_files` when it suits.

    `clips`/`events` have the manifest schemas (CLIPS_SCHEMA, EVENTS_SCHEMA); row order is kept. `recipe_hash` is
    written into the detections and reject rows (the manifests' own hash). Progress lines go to `log`.
    """
    event_clip = np.asarray(events.column("clip_id").to_pylist(), dtype=object)
    onscreen_speech = np.asarray(pc.fill_null(pc.and_(
        events.column("onscreen"),
        pc.equal(pc.cast(events.column("target_class"), pa.string()), "speech")), False).to_pylist(), dtype=bool)
    event_frame = events.column("frame").to_numpy()
    event_x_px = np.asarray(events.column("x_px").to_pylist(), dtype=object)
    confirmed: list[bool | None] = [None] * events.num_rows
    rates: list[float | None] = []
    rejected_ids: set[str] = set()
    rejects: list[RejectRow] = []
    rejected_files: list[str] = []
    detection_columns: dict[str, list] = {name: [] for name in DETECTIONS_SCHEMA.names}
    n_checked = n_confirmed = 0
    # Group event row indices by clip once: a recording can have thousands of clips.
    rows_of_clip: dict[str, list[int]] = {}
    for index, clip_id in enumerate(event_clip):
        rows_of_clip.setdefault(clip_id, []).append(index)
    boxes, n_detector_frames = detect_clips(clips, recipe, detect, source_videos, log)

    for clip in clips.select(["clip_id", "recording_id", "video_path", "audio_path", "metadata_path",
                              "foa_path"]).to_pylist():
        found = boxes[clip["clip_id"]]
        rows = np.asarray([i for i in rows_of_clip.get(clip["clip_id"], []) if onscreen_speech[i]], dtype=np.int64)
        matched = match_boxes(event_frame[rows], event_x_px[rows].astype(np.float64), found.frame, found.x0_px,
                              found.x1_px, video_fps=recipe.fps)
        for row, ok in zip(rows, matched):
            confirmed[row] = bool(ok)
        rate = float(matched.mean()) if rows.size else None
        rates.append(rate)
        n_checked += int(rows.size)
        n_confirmed += int(matched.sum())
        if recipe.min_visual_confirmation is not None and rate is not None and rate < recipe.min_visual_confirmation:
            rejected_ids.add(clip["clip_id"])
            rejects.append(RejectRow(
                STAGE, clip["recording_id"], clip["clip_id"], REASON,
                f"{int(matched.sum())} of {rows.size} onscreen speech events visually confirmed ({rate:.3f} < "
                f"min_visual_confirmation {recipe.min_visual_confirmation:g})", recipe_hash))
            rejected_files += [clip["video_path"], clip["audio_path"], clip["metadata_path"]]
            rejected_files += [clip["foa_path"]] if clip["foa_path"] is not None else []
            continue
        detection_columns["clip_id"] += [clip["clip_id"]] * len(found)
        detection_columns["frame"] += found.frame.tolist()
        detection_columns["class_name"] += found.class_name.tolist()
        detection_columns["score"] += found.score.tolist()
        for column, values in (("x0", found.x0_px), ("y0", found.y0_px), ("x1", found.x1_px), ("y1", found.y1_px)):
            detection_columns[column] += values.tolist()
        detection_columns["recipe_hash"] += [recipe_hash] * len(found)

    events = _set_column(events, EVENTS_SCHEMA, "visually_confirmed", confirmed)
    clips = _set_column(clips, CLIPS_SCHEMA, "visual_confirmation_rate", rates)
    if rejected_ids:
        rejected = pa.array(sorted(rejected_ids), pa.string())
        clips = clips.filter(pc.invert(pc.is_in(clips.column("clip_id"), value_set=rejected)))
        events = events.filter(pc.invert(pc.is_in(events.column("clip_id"), value_set=rejected)))
    detections = pa.Table.from_pydict(
        {name: pa.array(values, DETECTIONS_SCHEMA.field(name).type) for name, values in detection_columns.items()},
        schema=DETECTIONS_SCHEMA)
    return VerifiedClips(clips=clips, events=events, detections=detections, rejects=rejects,
                         rejected_files=rejected_files, n_checked=n_checked, n_confirmed=n_confirmed,
                         n_frames=len(boxes) * recipe.frames_per_clip, n_detector_frames=n_detector_frames)


def _set_column(table: pa.Table, schema: pa.Schema, name: str, values: list) -> pa.Table:
    field = schema.field(name)
    return table.set_column(table.schema.get_field_index(name), field, pa.array(values, field.type))


def _summary(label: str, verified: VerifiedClips, seconds: float) -> str:
    rate = f"{verified.n_confirmed / verified.n_checked:.1%}" if verified.n_checked else "n/a"
    return (f"{label}: {verified.n_frames} clip frames verified ({verified.n_detector_frames} view frames through "
            f"the detector) in {seconds:.1f} s; {verified.n_confirmed} of "
            f"{verified.n_checked} onscreen speech events visually confirmed ({rate}); "
            f"{len(verified.rejects)} clips rejected")


@dataclasses.dataclass(frozen=True)
class VerifiedRecording:
    """`verify_recording`'s result: the recording's output with its clips/events tables updated (rejected clips
    removed; `rejects` and the other fields as given, `seconds` plus "verify"), its detections table
    (DETECTIONS_SCHEMA) and the new reject rows, which the caller adds to the run's rejects."""

    output: RecordingOutput
    detections: pa.Table
    rejects: list[RejectRow]


def _remember_rejects(out: Path, recording_id: str, render_key: str | None, recipe: Recipe,
                      rejects: list[RejectRow]) -> None:
    """Record verification rejects in the recording's ledger (when `render_key` names it) under the recipe's verify
    key (`tasks.ledger.verify_key`), so that a rerun with the same settings neither renders nor verifies them."""
    if rejects and render_key is not None:
        ledger = Ledger.load(out, recording_id, render_key, verify_key(recipe))
        for reject in rejects:
            ledger.record(reject.clip_id, reject.reason, reject.detail, stage=STAGE)
        ledger.save()


@task(name="verify-recording", task_run_name="verify-{output.recording_id}", cache_policy=NO_CACHE)
def verify_recording(output: RecordingOutput, output_dir: str, recipe: Recipe, source_video: str) -> VerifiedRecording:
    """Verify one rendered recording's clips, held in memory, with the recipe's detector and
    `min_visual_confirmation`, on the views of its 360° video `source_video`, deleting the files of the clips it
    rejects (the curate flow verifies parts instead: `verify_part`).

    The rejects are recorded in the recording's ledger (when `output.render_key` names it) before their files are
    deleted: a rerun with the same verification settings reports them from the ledger without rendering or
    verifying them again.
    """
    started_s = time.perf_counter()
    out = Path(output_dir)
    logger = run_logger(__name__)
    verified = verify_clips(output.clips, output.events, recipe, recipe_detect(recipe), recipe.recipe_hash,
                            {output.recording_id: Path(source_video)}, _labelled(logger.info, output.recording_id))
    _remember_rejects(out, output.recording_id, output.render_key, recipe, verified.rejects)
    # As the render stage does with clips it rejects: the manifests, written later, will not list them.
    for rel in verified.rejected_files:
        (out / rel).unlink(missing_ok=True)
    seconds = time.perf_counter() - started_s
    logger.info(_summary(output.recording_id, verified, seconds))
    updated = dataclasses.replace(output, clips=verified.clips, events=verified.events,
                                  seconds={**output.seconds, "verify": output.seconds.get("verify", 0.0) + seconds})
    return VerifiedRecording(updated, verified.detections, verified.rejects)


def _labelled(log: Callable[[str], None], label: str) -> Callable[[str], None]:
    """`log` with each line prefixed by `label` (the recording whose progress it is)."""
    return lambda line: log(f"{label}: {line}")


DETECTIONS_ORDER = [("clip_id", "ascending"), ("frame", "ascending"), ("x0", "ascending")]


@task(name="verify-part", task_run_name="verify-{summary.recording_id}", cache_policy=NO_CACHE)
def verify_part(summary: RecordingSummary, output_dir: str, recipe: Recipe, source_dir: str) -> RecordingSummary:
    """Verify one rendered recording's part (`tasks.parts`) with the recipe's detector and
    `min_visual_confirmation`, on the views of its 360° video under `source_dir`: its clips and events get their
    verification columns, the clips it rejects leave them and join its rejects, and its detections (sorted by clip id,
    frame and x0) are added; the part is rewritten under its verified key. Called only when the recipe says `verify`. A
    summary of a part already verified (the render task keeps one verified under the recipe's settings) is returned as
    it is.

    The rejects are recorded in the recording's ledger first, then the part is rewritten, and only then are the
    rejected clips' files deleted: a part never lists a clip whose files are gone.
    """
    if summary.verified:  # the render task kept a part verified under these settings
        return summary
    out = Path(output_dir)
    info = load_part_info(out, summary.recording_id)
    if info is None or info.key != summary.part_key:
        raise ContractError(f"{part_dir(out, summary.recording_id)}: "
                            f"{'no part' if info is None else f'part of key {info.key}'}, expected the part of key "
                            f"{summary.part_key} the render task wrote")
    started_s = time.perf_counter()
    clips, events, rejects = (read_part(out, summary.recording_id, name) for name in ("clips", "events", "rejects"))
    logger = run_logger(__name__)
    verified = verify_clips(clips, events, recipe, recipe_detect(recipe), recipe.recipe_hash,
                            {summary.recording_id: Path(source_dir) / info.recording.video_path},
                            _labelled(logger.info, summary.recording_id))
    _remember_rejects(out, summary.recording_id, summary.render_key, recipe, verified.rejects)
    key = verified_part_key(info.key, recipe)
    written = write_part(out, info.recording, key, info.n_candidates, info.n_qualifying, {
        "clips": verified.clips,
        "events": verified.events,
        "rejects": pa.concat_tables([rejects, rows_to_table(verified.rejects, REJECTS_SCHEMA)]),
        "detections": verified.detections.sort_by(DETECTIONS_ORDER),
    }, funnel=info.funnel)
    for rel in verified.rejected_files:
        (out / rel).unlink(missing_ok=True)
    verify_s = time.perf_counter() - started_s
    logger.info(_summary(summary.recording_id, verified, verify_s))
    seconds = {**summary.seconds, "verify": summary.seconds.get("verify", 0.0) + verify_s}
    return RecordingSummary.of_part(written, seconds, summary.n_rendered, summary.render_key)


def _with_schema(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    """`table` with the columns a later version of its schema added: nullable ones filled with nulls, a clip's
    `target_class` derived from its frame counts (`curation.selection.clip_target_class`)."""
    for field in schema:
        if field.name not in table.column_names:
            if field.name == "target_class" and {"n_speech_frames", "n_instrument_frames"} <= set(table.column_names):
                classes = clip_target_class(table.column("n_speech_frames").to_numpy(),
                                            table.column("n_instrument_frames").to_numpy())
                values = pa.array(np.asarray(classes, dtype=object), pa.string()).cast(field.type)
            elif field.nullable:
                values = pa.nulls(table.num_rows, field.type)
            else:
                raise ContractError(f"{path}: column {field.name} is missing")
            table = table.append_column(field, values)
    return table.select(schema.names)


def verify_output_dir(output_dir: str | os.PathLike[str], recipe: Recipe, *,
                      source_dir: str | os.PathLike[str] | None = None, weights: str | None = None,
                      log: Callable[[str], None] = print) -> dict[str, float | int]:
    """Re-verify a curated output folder in place (`savgbench verify OUT --source SRC`): every kept clip, whatever
    was verified before, then publish new manifests, `manifests/detections.parquet` and split lists, and rewrite the
    report summary.

    `source_dir` is the source folder the output was curated from: the detector runs on the views remapped from its
    360° videos, each decoded once (their sha256 must be the manifests' `video_sha256`). `recipe` gives the frame
    geometry and the verification settings (`weights` overrides `detector_weights`); detections and reject rows
    carry the manifests' recipe hash, since the clips are the curated set's. The whole work holds the folder's run
    lock (`OutputBusy` if another run holds it). The rewritten files and the current release's other files
    (carried over) are published as one new release (`data_contracts._atomic.Release`), and only then are the
    rejected clips' files deleted: an interruption never leaves a manifest listing a missing file. Progress and a
    summary go to `log`. Returns the set-level counts.
    """
    out = Path(output_dir)
    manifests = out / "manifests"
    verify_recipe = dataclasses.replace(recipe, verify=True, **({"detector_weights": weights} if weights else {}))
    # The detector first: weights that cannot be had are reported before anything else is looked at.
    detect = recipe_detect(verify_recipe)
    if not manifests.is_dir():  # before the lock, which would create the folder
        raise ContractError(f"{manifests}: missing: {out} is not a curated output folder")
    with OutputLock(out, "verify"):
        return _verify_locked_output_dir(out, recipe, verify_recipe, detect, source_dir, log)


def source_videos(recordings: pa.Table, clips: pa.Table, source_dir: str | os.PathLike[str] | None,
                  manifest: Path) -> dict[str, Path]:
    """{recording_id: its 360° video under `source_dir`} for the recordings `clips` lists, each checked to be the
    file the output was curated from (its sha256 is the recordings manifest's `video_sha256`, when it has one).
    Raises ContractError naming what is missing or different."""
    needed = set(clips.column("recording_id").to_pylist())
    if not needed:
        return {}
    if source_dir is None:
        raise ContractError(f"{manifest.parent.parent}: give the source folder it was curated from (savgbench verify "
                            "OUT --source SRC): verification runs the detector on the views of the 360° videos")
    root = Path(source_dir)
    videos = {}
    for row in recordings.select(["recording_id", "video_path", "video_sha256"]).to_pylist():
        if row["recording_id"] not in needed:
            continue
        if row["video_path"] is None:
            raise ContractError(f"{manifest}: recording {row['recording_id']} has clips but no video_path")
        video = root / row["video_path"]
        if not video.is_file():
            raise ContractError(f"{video}: no such file: is {root} the source folder the output was curated from?")
        if row["video_sha256"] is not None and sha256_file(video) != row["video_sha256"]:
            raise ContractError(f"{video}: not the video the output was curated from (its sha256 differs from "
                                f"{manifest}'s video_sha256)")
        videos[row["recording_id"]] = video
    absent = sorted(needed - set(videos))
    if absent:
        raise ContractError(f"{manifest}: no row for recording {absent[0]}, which clips.parquet lists")
    return videos


def _verify_locked_output_dir(out: Path, recipe: Recipe, verify_recipe: Recipe, detect: DetectFn,
                              source_dir: str | os.PathLike[str] | None,
                              log: Callable[[str], None]) -> dict[str, float | int]:
    manifests = out / "manifests"
    schemas = {"recordings": RECORDINGS_SCHEMA, "clips": CLIPS_SCHEMA, "events": EVENTS_SCHEMA,
               "rejects": REJECTS_SCHEMA}
    tables = {}
    for name, schema in schemas.items():
        path = manifests / f"{name}.parquet"
        if not path.is_file():
            raise ContractError(f"{path}: missing: {out} is not a curated output folder")
        tables[name] = _with_schema(pq.read_table(path), schema, path)
    hashes = set(tables["recordings"].column("recipe_hash").to_pylist())
    if len(hashes) > 1:
        raise ContractError(f"{manifests / 'recordings.parquet'}: recipe_hash has {len(hashes)} values, expected 1")
    # An output of no recordings has no hash to keep, and no row will need one.
    recipe_hash = hashes.pop() if hashes else recipe.recipe_hash

    if tables["clips"].num_rows:
        first_video = out / tables["clips"].column("video_path")[0].as_py()
        info = probe_media(first_video)
        if (info.width_px, info.height_px) != (recipe.frame_width, recipe.frame_height):
            raise ContractError(
                f"{first_video}: {info.width_px}x{info.height_px} frames but the recipe has frame_width x "
                f"frame_height = {recipe.frame_width}x{recipe.frame_height}: give the recipe the output was "
                "curated with"
            )
    videos = source_videos(tables["recordings"], tables["clips"], source_dir, manifests / "recordings.parquet")

    started_s = time.perf_counter()
    verified = verify_clips(tables["clips"], tables["events"], verify_recipe, detect, recipe_hash, videos, log)
    seconds = time.perf_counter() - started_s
    log(_summary(str(out), verified, seconds))

    rejects = tables["rejects"]
    if verified.rejects:
        rejects = sort_rejects(pa.concat_tables([rejects, rows_to_table(verified.rejects, REJECTS_SCHEMA)]))
    validate_manifests(tables["recordings"], verified.clips, verified.events, rejects, verified.detections)

    # One new release: the rewritten files, and the current release's others (recordings.parquet) carried over.
    with Release(out, carry_over=True) as release:
        write_split_lists(release, verified.clips)
        for name, table in (("clips", verified.clips), ("events", verified.events), ("rejects", rejects),
                            ("detections", verified.detections)):
            stage_parquet(release, name, table)
    # Only now that no manifest lists them: an interruption before this leaves files behind, never a dangling entry.
    for rel in verified.rejected_files:
        (out / rel).unlink(missing_ok=True)
    refresh_summary(out, table_to_rows(tables["recordings"], RecordingRow), verified.clips, verified.events, rejects)
    return {"clips": verified.clips.num_rows, "checked": verified.n_checked, "confirmed": verified.n_confirmed,
            "rejected": len(verified.rejects), "detections": verified.detections.num_rows,
            "clip_frames": verified.n_frames, "detector_frames": verified.n_detector_frames}
