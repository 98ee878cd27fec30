"""Plan and render one recording: the two per-recording stages after inspection."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.media import MediaError
from curation.plan import RecordingPlan, events_columns, plan_recording
from curation.render import render_recording
from data_contracts.manifests import CLIPS_SCHEMA, EVENTS_SCHEMA, RejectRow, columns_to_table, rows_to_table
from data_contracts.recipe import Recipe
from tasks._run_context import run_logger
from tasks.discover import LoadedRecording
from tasks.ledger import Ledger, entry_stage, render_key, verify_key


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
    """One recording's share of the manifests. Clips and events travel as Arrow tables: handing Prefect one object
    instead of thousands of rows keeps its bookkeeping of task inputs cheap. `failure` is set when the recording
    had to be dropped while rendering (e.g. its video turned out corrupt); it then contributes no clips.
    `render_key` is the key of the recording's ledger (`tasks.ledger`), where the verification stage records its
    rejects; None when no ledger backs the output."""

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


def _clip_paths(output_dir: Path, plan_clip) -> list[Path]:
    clip = plan_clip.clip
    return [output_dir / clip.video_path, output_dir / clip.audio_path, output_dir / clip.metadata_path]


@task(name="render-recording", task_run_name="render-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def render_recording_task(loaded: LoadedRecording, plan: RecordingPlan, source_dir: str, output_dir: str,
                          recipe: Recipe) -> RecordingOutput:
    """Write the recording's clips (mp4, wav, metadata csv) that its ledger does not already hold.

    Clipped clips become rejects rows, and so do the clips the ledger remembers as rejected by visual verification
    under the recipe's verification settings (stage "verify"; not rendered again). A failure drops the whole
    recording: its clip files and ledger are deleted and the failure is returned as a reject, so nothing of it is
    left half-written. Its reason: `video_decode_failed` for a media error, `render_failed` for another runtime or
    OS error, `internal_error` for anything else (a bug: logged with its traceback).
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
            return RecordingOutput(row.recording_id, plan.n_candidates, plan.n_qualifying, CLIPS_SCHEMA.empty_table(),
                                   EVENTS_SCHEMA.empty_table(), (), {}, 0, failure)
        ledger.save()
        seconds = dict(result.seconds)
        logger.info("%s: times %s", row.recording_id, ", ".join(f"{k} {v:.2f} s" for k, v in sorted(seconds.items())))

    written, rejects = [], []
    for plan_clip in plan.clips:  # plan order is clip-id order within a recording
        entry = ledger.clips[plan_clip.clip.clip_id]
        if entry["status"] == "written":
            written.append(plan_clip)
        else:
            rejects.append(RejectRow(entry_stage(entry), row.recording_id, plan_clip.clip.clip_id, entry["reason"],
                                     entry["detail"], recipe.recipe_hash))
    written.sort(key=lambda c: c.clip.clip_id)
    return RecordingOutput(
        recording_id=plan.recording_id,
        n_candidates=plan.n_candidates,
        n_qualifying=plan.n_qualifying,
        clips=rows_to_table([c.clip for c in written], CLIPS_SCHEMA),
        events=columns_to_table(events_columns([c.events for c in written]), EVENTS_SCHEMA),
        rejects=tuple(rejects),
        seconds=seconds,
        n_rendered=len(todo),
        render_key=key,
    )
