"""Plan and render one recording: the two per-recording stages after inspection. Each ends by writing the
recording's part (`tasks.parts`) and hands back only a `RecordingSummary`; planning only (no media), the
`plan_part_task` does both stages' share in one task."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.media import MediaError
from curation.plan import RecordingPlan, clips_columns, events_columns, plan_recording
from curation.render import render_recording
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    EVENTS_SCHEMA,
    REJECTS_SCHEMA,
    RejectRow,
    columns_to_table,
    rows_to_table,
)
from data_contracts.recipe import Recipe
from tasks._run_context import run_logger
from tasks.discover import LoadedRecording
from tasks.ledger import Ledger, entry_stage, render_key, verify_key
from tasks.outcomes import relative_detail
from tasks.parts import (
    PLANNED,
    RENDERED,
    PartInfo,
    delete_part,
    load_part_info,
    part_key,
    verified_part_key,
    write_part,
)

__all__ = ["RecordingOutput", "RecordingSummary", "plan_recording_task", "render_recording_task", "plan_part_task",
           "planned_tables"]


@task(name="plan-recording", task_run_name="plan-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def plan_recording_task(loaded: LoadedRecording, recipe: Recipe) -> RecordingPlan:
    """Candidate (window, view) pairs of one recording and the clips the selection rule keeps."""
    row = loaded.row
    plan = plan_recording(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations, recipe)
    run_logger(__name__).info("%s: %d candidates, %d qualifying, %d kept", row.recording_id, plan.n_candidates,
                              plan.n_qualifying, len(plan.clips))
    return plan


@dataclass(frozen=True)
class RecordingOutput:
    """One recording's share of the manifests held in memory, as `tasks.verify.verify_recording` takes it: clips
    and events as Arrow tables, its clip rejects. `failure` is set when the recording had to be dropped while
    rendering; it then contributes no clips. `render_key` is the key of the recording's ledger (`tasks.ledger`),
    where the verification stage records its rejects; None when no ledger backs the output."""

    recording_id: str
    n_candidates: int
    n_qualifying: int
    clips: pa.Table
    events: pa.Table
    rejects: tuple[RejectRow, ...]
    seconds: dict[str, float]
    n_rendered: int = 0
    failure: RejectRow | None = None
    render_key: str | None = None


@dataclass(frozen=True)
class RecordingSummary:
    """What a recording's task hands the flow: counts, never rows. The rows are in the recording's part
    (`tasks.parts`), under `part_key`; its clip rejects are counted by `n_rejects` and listed in the part.

    `seconds` are the render stages' (and verification's) seconds spent now (none when the work was done before);
    `n_rendered` the clips rendered now. `failure` is set when the recording had to be dropped while rendering
    (e.g. its video turned out corrupt): it then has no part (`part_key` None). `render_key` is the key of the
    recording's ledger (`tasks.ledger`), None when planned only; `verified` whether the part is verified."""

    recording_id: str
    n_candidates: int
    n_qualifying: int
    n_clips: int
    n_events: int
    n_rejects: int
    seconds: dict[str, float]
    n_rendered: int = 0
    failure: RejectRow | None = None
    part_key: str | None = None
    render_key: str | None = None
    verified: bool = False

    @classmethod
    def of_part(cls, info: PartInfo, seconds: dict[str, float], n_rendered: int = 0,
                render_key: str | None = None) -> "RecordingSummary":
        """The summary of a recording whose part is `info`."""
        return cls(info.recording_id, info.n_candidates, info.n_qualifying, info.rows["clips"], info.rows["events"],
                   info.rows["rejects"], seconds, n_rendered, None, info.key, render_key, info.verified)


def _clip_paths(output_dir: Path, plan_clip) -> list[Path]:
    clip = plan_clip.clip
    return [output_dir / clip.video_path, output_dir / clip.audio_path, output_dir / clip.metadata_path]


@task(name="render-recording", task_run_name="render-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def render_recording_task(loaded: LoadedRecording, plan: RecordingPlan, source_dir: str, output_dir: str,
                          recipe: Recipe) -> RecordingSummary:
    """Write the recording's clips (mp4, wav, metadata csv) that its ledger does not already hold, then its part.

    Clipped clips become rejects rows, and so do the clips the ledger remembers as rejected by visual verification
    under the recipe's verification settings (stage "verify"; not rendered again). When nothing is left to render
    and the part on disk has this recording's key (verified under the recipe's settings, or not) and the ledger's
    counts, it is kept as it is. A failure drops the whole recording: its clip files, ledger and part are deleted
    and the failure is returned, so nothing of it is left half-written. Its reason: `video_decode_failed` for a
    media error, `render_failed` for another runtime or OS error, `internal_error` for anything else (a bug: logged
    with its traceback).
    """
    logger = run_logger(__name__)
    root, out = Path(source_dir), Path(output_dir)
    row = loaded.row
    key = render_key(row, recipe)
    ledger = Ledger.load(out, row.recording_id, key, verify_key(recipe))
    todo = tuple(c for c in plan.clips if not ledger.done(c.clip.clip_id, _clip_paths(out, c)))
    logger.info("%s: %d planned clips, %d already rendered or rejected, %d to render", row.recording_id,
                len(plan.clips), len(plan.clips) - len(todo), len(todo))
    seconds: dict[str, float] = {}
    if todo:
        try:
            result = render_recording(
                replace(plan, clips=todo), root / row.audio_path, root / row.video_path, loaded.video_size_px, out,
                recipe, log=logger.info,
                on_clip=lambda plan_clip, reason, detail: ledger.record(plan_clip.clip.clip_id, reason, detail),
            )
        except Exception as exc:
            for plan_clip in plan.clips:
                for path in _clip_paths(out, plan_clip):
                    path.unlink(missing_ok=True)
            ledger.path.unlink(missing_ok=True)
            delete_part(out, row.recording_id)
            if isinstance(exc, MediaError):
                reason, detail = "video_decode_failed", str(exc)
            elif isinstance(exc, (RuntimeError, OSError)):
                reason, detail = "render_failed", str(exc)
            else:
                reason, detail = "internal_error", f"{type(exc).__name__}: {exc}"
            if reason == "internal_error":
                logger.exception("%s: %s: %s", row.recording_id, reason, detail)
            else:
                logger.error("%s: %s: %s", row.recording_id, reason, detail)
            failure = RejectRow("render", row.recording_id, None, reason, detail, recipe.recipe_hash)
            return RecordingSummary(row.recording_id, plan.n_candidates, plan.n_qualifying, 0, 0, 0, {}, 0, failure)
        ledger.save()
        seconds = dict(result.seconds)
        logger.info("%s: times %s", row.recording_id, ", ".join(f"{k} {v:.2f} s" for k, v in sorted(seconds.items())))

    written, rejected = [], []
    for plan_clip in plan.clips:
        entry = ledger.clips[plan_clip.clip.clip_id]
        (written if entry["status"] == "written" else rejected).append((plan_clip, entry))
    part = part_key(row, recipe, RENDERED)
    kept = load_part_info(out, row.recording_id)
    if (not todo and kept is not None and kept.key in (part, verified_part_key(part, recipe))
            and (kept.rows["clips"], kept.rows["rejects"]) == (len(written), len(rejected))):
        logger.info("%s: part unchanged (%d clips)", row.recording_id, len(written))
        return RecordingSummary.of_part(kept, seconds, 0, key)

    clips = sorted((plan_clip for plan_clip, _ in written), key=lambda c: c.clip.clip_id)
    rejects = [RejectRow(entry_stage(entry), row.recording_id, plan_clip.clip.clip_id, entry["reason"],
                         relative_detail(entry["detail"], source_dir, output_dir), recipe.recipe_hash)
               for plan_clip, entry in rejected]
    info = write_part(out, row, part, plan.n_candidates, plan.n_qualifying, {
        "clips": rows_to_table([c.clip for c in clips], CLIPS_SCHEMA),
        "events": columns_to_table(events_columns([c.events for c in clips]), EVENTS_SCHEMA),
        "rejects": rows_to_table(rejects, REJECTS_SCHEMA),
    })
    return RecordingSummary.of_part(info, seconds, len(todo), key)


def planned_tables(plan: RecordingPlan) -> tuple[pa.Table, pa.Table]:
    """A plan's clips and events tables as a rendered recording's part lists them: clips in clip-id order, each
    clip's events in manifest order (frame, class_id, source_index)."""
    clips = columns_to_table(clips_columns(plan.clips), CLIPS_SCHEMA)
    events = columns_to_table(events_columns(plan.clips), EVENTS_SCHEMA)
    order = pc.sort_indices(clips.column("clip_id"))
    if (order.to_numpy() != np.arange(len(order))).any():
        clips = clips.take(order)
        # A stable sort on the rank of each event's clip: within a clip the events keep their order.
        rank = pc.index_in(events.column("clip_id"), value_set=clips.column("clip_id"))
        events = events.take(pc.sort_indices(rank))
    return clips, events


@task(name="plan-part", task_run_name="plan-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def plan_part_task(loaded: LoadedRecording, output_dir: str, recipe: Recipe) -> RecordingSummary:
    """Planning only: the recording's planned clips and their events become its part as they would be listed once
    rendered (same ids and media paths, no file written, nothing rejected as clipped). A part already on disk under
    this recording's key is kept without planning again. The plan lives only inside this task."""
    row = loaded.row
    key = part_key(row, recipe, PLANNED)
    kept = load_part_info(output_dir, row.recording_id)
    if kept is not None and kept.key == key:
        run_logger(__name__).info("%s: part unchanged (%d clips)", row.recording_id, kept.rows["clips"])
        return RecordingSummary.of_part(kept, {})
    plan = plan_recording(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations, recipe)
    run_logger(__name__).info("%s: %d candidates, %d qualifying, %d kept", row.recording_id, plan.n_candidates,
                              plan.n_qualifying, len(plan.clips))
    clips, events = planned_tables(plan)
    info = write_part(output_dir, row, key, plan.n_candidates, plan.n_qualifying,
                      {"clips": clips, "events": events, "rejects": REJECTS_SCHEMA.empty_table()})
    return RecordingSummary.of_part(info, {})
