"""Plan and render one recording: the two per-recording stages after inspection."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dataclasses import dataclass

import pyarrow as pa

from curation.plan import RecordingPlan, plan_recording
from curation.render import render_recording
from data_contracts.manifests import CLIPS_SCHEMA, EVENTS_SCHEMA, RejectRow, rows_to_table
from data_contracts.recipe import Recipe
from tasks.discover import LoadedRecording


@task(name="plan-recording", task_run_name="plan-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def plan_recording_task(loaded: LoadedRecording, recipe: Recipe) -> RecordingPlan:
    """Candidate (window, view) pairs of one recording and the clips the selection rule keeps."""
    row = loaded.row
    plan = plan_recording(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations, recipe)
    get_run_logger().info("%s: %d candidates, %d qualifying, %d kept", row.recording_id, plan.n_candidates,
                          plan.n_qualifying, len(plan.clips))
    return plan


@dataclass(frozen=True)
class RecordingOutput:
    """One recording's share of the manifests. Clips and events travel as Arrow tables: handing Prefect one object
    instead of thousands of rows keeps its bookkeeping of task inputs cheap."""

    recording_id: str
    n_candidates: int
    n_qualifying: int
    clips: pa.Table
    events: pa.Table
    rejects: tuple[RejectRow, ...]
    seconds: dict[str, float]


@task(name="render-recording", task_run_name="render-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def render_recording_task(loaded: LoadedRecording, plan: RecordingPlan, source_dir: str, output_dir: str,
                          recipe: Recipe) -> RecordingOutput:
    """Write the recording's clips (mp4, wav, metadata csv); clipped clips become rejects rows."""
    logger = get_run_logger()
    root = Path(source_dir)
    result = render_recording(
        plan, root / loaded.row.audio_path, root / loaded.row.video_path, loaded.video_size_px, Path(output_dir),
        recipe, log=logger.info,
    )
    rejects = [
        RejectRow("render", plan_clip.clip.recording_id, plan_clip.clip.clip_id, reason, detail, recipe.recipe_hash)
        for plan_clip, reason, detail in result.rejected
    ]
    logger.info("%s: times %s", loaded.row.recording_id,
                ", ".join(f"{k} {v:.2f} s" for k, v in sorted(result.seconds.items())))
    written = sorted(result.written, key=lambda c: c.clip.clip_id)
    return RecordingOutput(
        recording_id=plan.recording_id,
        n_candidates=plan.n_candidates,
        n_qualifying=plan.n_qualifying,
        clips=rows_to_table([c.clip for c in written], CLIPS_SCHEMA),
        events=rows_to_table([e for c in written for e in sorted(
            c.events, key=lambda e: (e.frame, e.class_id, e.source_index))], EVENTS_SCHEMA),
        rejects=tuple(rejects),
        seconds=dict(result.seconds),
    )
