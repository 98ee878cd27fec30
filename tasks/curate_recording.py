"""One recording's work, from inspection to its part, as the flow runs it: one task run a recording (and a pass),
because what Prefect costs grows with the task runs, not with the work in them.

- `curate_recording_task`: inspect, plan, and render (or, planning only, write the planned part) one recording;
- with a clip budget, `recording_candidates_task` (inspect, plan for the clip hashes) in the first pass and
  `curate_budgeted_task` (read the annotations again, plan within the thresholds, render) in the second.

Each returns a `RecordingOutcome`: the recording's row, the rejects row that rejects it (if any) and, once it got
through, a `RecordingSummary` (counts, never rows: the rows are in the recording's part, `tasks.parts`). An exception
in one of its stages rejects the recording as `internal_error` in that stage ("inspect", "plan", "render"); the
task itself returns normally. The stages are also tasks of their own (`plan_recording_task`,
`render_recording_task`, `plan_part_task`, ...), for a caller that runs them one by one.

With a clip budget or a class balance (`tasks.outcomes.budget_applies`), a recording's clips depend on the other
recordings of its split: the flow first plans every recording for its clip hashes (`plan_candidates_task`), decides
each split's hash thresholds (`tasks.outcomes.decide_budgets`), then reads each recording's annotations again
(`reload_recording_task`) and plans, renders or writes it given its split's thresholds (`budget_selection`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.budget import KEEP_NONE, clip_hashes, kept_by_threshold
from curation.discover import SourceRecording
from curation.media import MediaError
from curation.plan import (
    FUNNEL_STAGES,
    PlannedClips,
    RecordingPlan,
    clips_columns,
    events_columns,
    plan_drawn_clips,
    plan_recording,
)
from curation.render import render_foa_clips, render_recording
from curation.sampling import DrawnClip
from data_contracts.annotations import parse_annotations
from data_contracts.classes import TARGET_CLASSES
from data_contracts.errors import ContractError
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    EVENTS_SCHEMA,
    REJECTS_SCHEMA,
    RecordingRow,
    RejectRow,
    columns_to_table,
    make_clip_id,
    rows_to_table,
)
from data_contracts.recipe import Recipe
from data_contracts.timebase import whole_label_frames
from tasks._run_context import run_logger
from tasks.discover import LoadedRecording, inspect_recording
from tasks.ledger import Ledger, entry_stage, render_key, verify_key
from tasks.outcomes import (
    INTERNAL_ERROR,
    fill_threshold_key,
    internal_error_reject,
    internal_error_row,
    relative_detail,
)
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

__all__ = ["RecordingCandidates", "RecordingOutcome", "RecordingOutput", "RecordingSummary", "budget_selection",
           "clip_target_classes", "count_by_class", "curate_budgeted_task", "curate_recording_task",
           "plan_candidates_task", "plan_part_task", "plan_recording_task", "planned_tables",
           "recording_candidates_task", "recording_funnel", "reload_recording_task", "render_recording_task"]


def clip_target_classes(clips: Sequence) -> np.ndarray:
    """Each clip's target class (str), from a plan's PlannedClips or a sequence of ClipPlan."""
    if isinstance(clips, PlannedClips):
        return clips.arrays["target_class"]
    return np.array([c.clip.target_class for c in clips], dtype=str)


def count_by_class(clips: Sequence) -> dict[str, int]:
    """Clips per target class (every class of `TARGET_CLASSES`)."""
    targets = clip_target_classes(clips)
    return {target: int(np.count_nonzero(targets == target)) for target in TARGET_CLASSES}


def recording_funnel(plan: RecordingPlan, rendered: Sequence | None = None) -> dict[str, dict[str, int]]:
    """A recording's clips per target class at each stage of `tasks.outcomes.RECORDING_FUNNEL_STAGES`: the plan's
    counts, its clips ("after_budget": the plan given is the one the budget left, if any) and `rendered` (None:
    planning only, the planned clips)."""
    funnel = {stage: dict(plan.class_counts[stage]) for stage in FUNNEL_STAGES}
    funnel["after_budget"] = count_by_class(plan.clips)
    funnel["rendered"] = dict(funnel["after_budget"]) if rendered is None else count_by_class(rendered)
    return funnel


def budget_selection(plan: RecordingPlan, thresholds: Mapping[str, int] | None) -> RecordingPlan:
    """The plan with only the clips its split's budget keeps: those whose `curation.budget.clip_hash` is at or
    below their target class's threshold (`thresholds`: target class -> threshold, from
    `tasks.outcomes.decide_budgets`). With `fill_max_near_duplicates` (the plan's `fill`), also the fill clips at
    or below their class's fill threshold (`fill_threshold_key`; none without one), in plan order with the others.
    The plan as it is when `thresholds` is None (no budget)."""
    if thresholds is None:
        return plan
    clips, is_fill = plan.clips, None
    if plan.fill is not None:
        # The clips after the clip gap and the fill clips, in plan order: each kept by its own thresholds.
        clips, is_fill = plan.fill.clips, plan.fill.is_fill
    targets = clip_target_classes(clips)
    clip_ids = clips.clip_id if isinstance(clips, PlannedClips) else [c.clip.clip_id for c in clips]
    hashes = clip_hashes(clip_ids)
    keep = np.zeros(len(clips), dtype=bool)
    for target in np.unique(targets).tolist():
        if target not in thresholds:
            raise ValueError(f"{plan.recording_id}: no budget threshold for target class {target!r} (thresholds "
                             f"for {sorted(thresholds)})")
        of_class = targets == target
        if is_fill is None:
            keep[of_class] = kept_by_threshold(hashes[of_class], thresholds[target])
            continue
        for fill, threshold in ((False, thresholds[target]),
                                (True, thresholds.get(fill_threshold_key(target), KEEP_NONE))):
            chosen = of_class & (is_fill == fill)
            keep[chosen] = kept_by_threshold(hashes[chosen], threshold)
    positions = np.flatnonzero(keep)
    kept = clips.take(positions) if isinstance(clips, PlannedClips) else tuple(clips[i] for i in positions.tolist())
    return replace(plan, clips=kept)


@dataclass(frozen=True)
class RecordingCandidates:
    """What the clip budget needs of one recording's plan: its split, and per target class the `clip_hash`es of its
    clips left after the clip gap (uint64, in plan order; 8 bytes a clip, where the plan holds its events)."""

    recording_id: str
    split: str
    # Left out of hash(): a dict has none (equality still compares it).
    hashes: dict[str, np.ndarray] = field(hash=False)
    # With `fill_max_near_duplicates`: the hashes of the clips that may fill the budget, per target class, and the
    # near-repeats among the clips after the clip gap (`curation.plan.FillPool`); None and 0 without.
    fill_hashes: dict[str, np.ndarray] | None = field(default=None, hash=False)
    near_duplicates: int = 0


@task(name="plan-candidates", task_run_name="candidates-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def plan_candidates_task(loaded: LoadedRecording, recipe: Recipe) -> RecordingCandidates:
    """Plan one recording for the clip budget: the clip hashes of its clips after the clip gap, per target class.
    The plan itself is dropped (it is made again, given the thresholds, by the recording's later tasks)."""
    row = loaded.row
    plan = plan_recording(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations, recipe)
    run_logger(__name__).info("%s: %d candidates, %d qualifying, %d after the de-duplication policies%s",
                              row.recording_id, plan.n_candidates, plan.n_qualifying, len(plan.clips),
                              "" if plan.fill is None else f", {int(plan.fill.is_fill.sum())} that may fill the budget")
    if plan.fill is None:
        return RecordingCandidates(row.recording_id, row.split, _hashes_by_class(plan.clips))
    return RecordingCandidates(row.recording_id, row.split, _hashes_by_class(plan.clips),
                               _hashes_by_class(plan.fill.fill_clips), plan.fill.near_duplicates)


def _hashes_by_class(clips: PlannedClips) -> dict[str, np.ndarray]:
    """The clips' `clip_hash`es per target class (every class of TARGET_CLASSES, empty when it has no clip)."""
    targets, hashes = clip_target_classes(clips), clip_hashes(clips.clip_id)
    return {target: hashes[targets == target] for target in TARGET_CLASSES}


@task(name="reload-recording", task_run_name="reload-{row.recording_id}", cache_policy=NO_CACHE)
def reload_recording_task(row: RecordingRow, video_size_px: tuple[int, int] | None,
                          source_dir: str) -> LoadedRecording:
    """A recording inspected earlier in the run, with its annotations read again from its csv, as inspection left
    them (rows past its `duration_s` dropped), so that the flow need not hold every recording's annotations while
    it decides the budget. ContractError, naming the csv, when the file changed since inspection (another
    sha256) or drops another number of rows."""
    path = Path(source_dir) / row.metadata_path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"{row.metadata_path}: cannot read annotation file again: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != row.metadata_sha256:
        raise ContractError(f"{row.metadata_path}: changed since it was inspected in this run (sha256 {digest}, "
                            f"was {row.metadata_sha256})")
    all_annotations = parse_annotations(data.decode("utf-8"), row.metadata_path)
    n_label_frames = whole_label_frames(row.duration_s)
    annotations = tuple(annotation for annotation in all_annotations if annotation.frame < n_label_frames)
    dropped = len(all_annotations) - len(annotations)
    if dropped != (row.annotation_rows_dropped or 0):
        raise ContractError(f"{row.metadata_path}: {dropped} rows at label frame {n_label_frames} or later, "
                            f"inspection dropped {row.annotation_rows_dropped}")
    return LoadedRecording(row, annotations, video_size_px)


@task(name="plan-recording", task_run_name="plan-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def plan_recording_task(loaded: LoadedRecording, recipe: Recipe,
                        thresholds: Mapping[str, int] | None = None) -> RecordingPlan:
    """Candidate (window, view) pairs of one recording and the clips the selection rule and the de-duplication
    policies keep; with `thresholds` (its split's, see `budget_selection`), only those the budget keeps too."""
    return _selected_plan(loaded, recipe, thresholds)


def _selected_plan(loaded: LoadedRecording, recipe: Recipe, thresholds: Mapping[str, int] | None,
                   drawn: Sequence[DrawnClip] | None = None) -> RecordingPlan:
    """The recording's plan after the selection rule, the de-duplication policies and (with `thresholds`) the
    budget, logged with its counts: what both the render path and the planning-only path start from. With random
    sampling, the plan of its `drawn` clips (`curation.plan.plan_drawn_clips`)."""
    row = loaded.row
    if drawn is not None:
        plan = plan_drawn_clips(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations,
                                recipe, drawn)
        run_logger(__name__).info("%s: %d clips drawn", row.recording_id, len(plan.clips))
        return plan
    # The fill pool only where the split's budget takes fill clips (see `budget_selection`).
    fills = thresholds is not None and any(thresholds.get(fill_threshold_key(target), KEEP_NONE) != KEEP_NONE
                                           for target in TARGET_CLASSES)
    plan = plan_recording(row.recording_id, row.source_folder, row.split, row.duration_s, loaded.annotations, recipe,
                          with_fill=fills)
    n_selected = len(plan.clips)
    plan = budget_selection(plan, thresholds)
    run_logger(__name__).info("%s: %d candidates, %d qualifying, %d kept%s", row.recording_id, plan.n_candidates,
                              plan.n_qualifying, n_selected,
                              "" if thresholds is None else f", {len(plan.clips)} within the budget")
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
    recording's ledger (`tasks.ledger`), None when planned only; `verified` whether the part is verified.
    `funnel` counts the recording's clips per target class at each stage of
    `tasks.outcomes.RECORDING_FUNNEL_STAGES` (stage -> {target class -> count}; `recording_funnel`): "rendered"
    counts the clips the render wrote, before verification (none after a failure; planning only, the planned
    clips)."""

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
    # Left out of hash(): a dict has none (equality still compares it).
    funnel: dict[str, dict[str, int]] = field(default_factory=dict, hash=False)

    @classmethod
    def of_part(cls, info: PartInfo, seconds: dict[str, float], n_rendered: int = 0,
                render_key: str | None = None, funnel: dict[str, dict[str, int]] | None = None
                ) -> "RecordingSummary":
        """The summary of a recording whose part is `info`; its funnel is `funnel`, or the part's when None."""
        return cls(info.recording_id, info.n_candidates, info.n_qualifying, info.rows["clips"], info.rows["events"],
                   info.rows["rejects"], seconds, n_rendered, None, info.key, render_key, info.verified,
                   info.funnel if funnel is None else funnel)


def _clip_paths(output_dir: Path, plan_clip, *, foa: bool = True) -> list[Path]:
    """The clip's files; its FOA file too when it has one and `foa`."""
    clip = plan_clip.clip
    paths = [output_dir / clip.video_path, output_dir / clip.audio_path, output_dir / clip.metadata_path]
    return (paths + [output_dir / clip.foa_path]) if foa and clip.foa_path is not None else paths


@task(name="render-recording", task_run_name="render-{loaded.row.recording_id}", cache_policy=NO_CACHE)
def render_recording_task(loaded: LoadedRecording, plan: RecordingPlan, source_dir: str, output_dir: str,
                          recipe: Recipe, thresholds: Mapping[str, int] | None = None,
                          drawn: Sequence[DrawnClip] | None = None) -> RecordingSummary:
    """Write the recording's clips (mp4, wav, metadata csv) that its ledger does not already hold, then its part.

    `plan` is the one `plan_recording_task` gave, given `thresholds` (its split's clip budget thresholds, None without a
    budget) or, with random sampling, the one of its `drawn` clips; the part's key includes both; the ledger's key does
    not (a clip's bytes do not depend on the budget), so another budget renders only the clips the ledger lacks.

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
    # Written before without the FOA the recipe now asks for: only their FOA files are written.
    foa_only = tuple(c for c in todo if ledger.done(c.clip.clip_id, _clip_paths(out, c, foa=False)))
    todo = tuple(c for c in todo if not ledger.done(c.clip.clip_id, _clip_paths(out, c, foa=False)))
    logger.info("%s: %d planned clips, %d already rendered or rejected, %d to render, %d lack only their FOA",
                row.recording_id, len(plan.clips), len(plan.clips) - len(todo) - len(foa_only), len(todo),
                len(foa_only))
    seconds: dict[str, float] = {}
    if todo or foa_only:
        try:
            if foa_only:
                seconds.update(render_foa_clips(foa_only, root / row.audio_path, out, recipe, log=logger.info))
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
            return RecordingSummary(row.recording_id, plan.n_candidates, plan.n_qualifying, 0, 0, 0, {}, 0, failure,
                                    funnel=recording_funnel(plan, ()))
        ledger.save()
        seconds.update(result.seconds)
        logger.info("%s: times %s", row.recording_id, ", ".join(f"{k} {v:.2f} s" for k, v in sorted(seconds.items())))

    written, rejected = [], []
    for plan_clip in plan.clips:
        entry = ledger.clips[plan_clip.clip.clip_id]
        (written if entry["status"] == "written" else rejected).append((plan_clip, entry))
    funnel = recording_funnel(plan, [plan_clip for plan_clip, _ in written])
    part = part_key(row, recipe, RENDERED, thresholds, _drawn_ids(drawn))
    kept = load_part_info(out, row.recording_id)
    if (not todo and kept is not None and kept.key in (part, verified_part_key(part, recipe))
            and (kept.rows["clips"], kept.rows["rejects"]) == (len(written), len(rejected))):
        logger.info("%s: part unchanged (%d clips)", row.recording_id, len(written))
        return RecordingSummary.of_part(kept, seconds, 0, key, funnel)

    clips = sorted((plan_clip for plan_clip, _ in written), key=lambda c: c.clip.clip_id)
    rejects = [RejectRow(entry_stage(entry), row.recording_id, plan_clip.clip.clip_id, entry["reason"],
                         relative_detail(entry["detail"], source_dir, output_dir), recipe.recipe_hash)
               for plan_clip, entry in rejected]
    info = write_part(out, row, part, plan.n_candidates, plan.n_qualifying, {
        "clips": rows_to_table([c.clip for c in clips], CLIPS_SCHEMA),
        "events": columns_to_table(events_columns([c.events for c in clips]), EVENTS_SCHEMA),
        "rejects": rows_to_table(rejects, REJECTS_SCHEMA),
    }, funnel)
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
def plan_part_task(loaded: LoadedRecording, output_dir: str, recipe: Recipe,
                   thresholds: Mapping[str, int] | None = None,
                   drawn: Sequence[DrawnClip] | None = None) -> RecordingSummary:
    """Planning only: the recording's planned clips (with `thresholds`, those its split's budget keeps:
    `budget_selection`) and their events become its part as they would be listed once rendered (same ids and media
    paths, no file written, nothing rejected as clipped), with its funnel ("rendered": the planned clips). A part
    already on disk under this recording's key (thresholds included) is kept without planning again. The plan lives
    only inside this task. With random sampling, the recording's `drawn` clips are its plan."""
    row = loaded.row
    key = part_key(row, recipe, PLANNED, thresholds, _drawn_ids(drawn))
    kept = load_part_info(output_dir, row.recording_id)
    if kept is not None and kept.key == key:
        run_logger(__name__).info("%s: part unchanged (%d clips)", row.recording_id, kept.rows["clips"])
        return RecordingSummary.of_part(kept, {})
    plan = _selected_plan(loaded, recipe, thresholds, drawn)
    clips, events = planned_tables(plan)
    info = write_part(output_dir, row, key, plan.n_candidates, plan.n_qualifying,
                      {"clips": clips, "events": events, "rejects": REJECTS_SCHEMA.empty_table()},
                      recording_funnel(plan))
    return RecordingSummary.of_part(info, {})


@dataclass(frozen=True)
class RecordingOutcome:
    """What one recording's task hands the flow. `row` is its recordings row (status "ok", or "rejected" with its
    reason); `reject` the rejects row that rejected it (None when it passed, and when rendering dropped it: the
    summary's `failure` says why). `summary` is set once the recording got through its last stage (its part
    written, or its render failure); `candidates` and `video_size_px`, in a budget's first pass, what the second
    pass needs of it."""

    row: RecordingRow
    reject: RejectRow | None = None
    summary: RecordingSummary | None = None
    candidates: RecordingCandidates | None = None
    video_size_px: tuple[int, int] | None = None


def _internal_error(stage: str, row: RecordingRow, exc: Exception, recipe: Recipe) -> RecordingOutcome:
    """The outcome of a recording whose `stage` raised `exc` (logged with its traceback): its row rejected as
    `internal_error`, and the rejects row naming the stage and the exception."""
    run_logger(__name__).error("%s: the %s stage raised %s: %s; the recording is rejected (%s), the run goes on",
                               row.recording_id, stage, type(exc).__name__, exc, INTERNAL_ERROR, exc_info=exc)
    return RecordingOutcome(replace(row, status="rejected", reason=INTERNAL_ERROR),
                            internal_error_reject(stage, row.recording_id, exc, recipe.recipe_hash))


def _inspected(source: SourceRecording, split: str, source_dir: str, recipe: Recipe,
               annotations_only: bool) -> LoadedRecording | RecordingOutcome:
    """The recording inspected: what it loaded when it passed, else its (rejected) outcome."""
    try:
        inspection = inspect_recording.fn(source, split, source_dir, recipe, annotations_only)
    except Exception as exc:
        return _internal_error("inspect", internal_error_row(source, split, recipe.recipe_hash), exc, recipe)
    if inspection.loaded is None:
        return RecordingOutcome(inspection.row, inspection.reject)
    return inspection.loaded


def _planned_and_written(loaded: LoadedRecording, source_dir: str, output_dir: str, recipe: Recipe, render: bool,
                         thresholds: Mapping[str, int] | None,
                         drawn: Sequence[DrawnClip] | None = None) -> RecordingOutcome:
    """Plan the loaded recording (within `thresholds`, with a budget; its `drawn` clips, with random sampling) and
    render it, or write its planned part."""
    row = loaded.row
    if not render:
        try:
            return RecordingOutcome(row, summary=plan_part_task.fn(loaded, output_dir, recipe, thresholds, drawn))
        except Exception as exc:
            return _internal_error("plan", row, exc, recipe)
    try:
        plan = _selected_plan(loaded, recipe, thresholds, drawn)
    except Exception as exc:
        return _internal_error("plan", row, exc, recipe)
    try:
        summary = render_recording_task.fn(loaded, plan, source_dir, output_dir, recipe, thresholds, drawn)
    except Exception as exc:
        return _internal_error("render", row, exc, recipe)
    return RecordingOutcome(row, summary=summary)


@task(name="curate-recording", task_run_name="curate-{source.recording_id}", cache_policy=NO_CACHE)
def curate_recording_task(source: SourceRecording, split: str, source_dir: str, output_dir: str, recipe: Recipe,
                          render: bool = True, annotations_only: bool = False) -> RecordingOutcome:
    """One recording, in one task run: inspect it (`tasks.discover.inspect_recording`), plan it, and render its
    clips (`render_recording_task`) or, with `render` False, write its planned part (`plan_part_task`;
    `annotations_only` is for this path only). The plan lives only inside this task."""
    loaded = _inspected(source, split, source_dir, recipe, annotations_only)
    if isinstance(loaded, RecordingOutcome):
        return loaded
    return _planned_and_written(loaded, source_dir, output_dir, recipe, render, None)


@task(name="recording-candidates", task_run_name="candidates-{source.recording_id}", cache_policy=NO_CACHE)
def recording_candidates_task(source: SourceRecording, split: str, source_dir: str, recipe: Recipe,
                              annotations_only: bool = False) -> RecordingOutcome:
    """A clip budget's first pass over one recording, in one task run: inspect it and plan it for its clip hashes
    (`plan_candidates_task`). The outcome holds the candidates and the video size; the annotations are dropped (the
    second pass reads them again). With random sampling the first pass only inspects (the draws need the
    recordings' lengths): no candidates."""
    loaded = _inspected(source, split, source_dir, recipe, annotations_only)
    if isinstance(loaded, RecordingOutcome):
        return loaded
    if recipe.sampling == "random":
        return RecordingOutcome(loaded.row, video_size_px=loaded.video_size_px)
    try:
        candidates = plan_candidates_task.fn(loaded, recipe)
    except Exception as exc:
        return _internal_error("plan", loaded.row, exc, recipe)
    return RecordingOutcome(loaded.row, candidates=candidates, video_size_px=loaded.video_size_px)


@task(name="curate-budgeted", task_run_name="curate-{row.recording_id}", cache_policy=NO_CACHE)
def curate_budgeted_task(row: RecordingRow, video_size_px: tuple[int, int] | None, source_dir: str, output_dir: str,
                         recipe: Recipe, thresholds: Mapping[str, int] | None, render: bool = True,
                         drawn: Sequence[DrawnClip] | None = None) -> RecordingOutcome:
    """A clip budget's (or random sampling's) second pass over one recording inspected in the first, in one task
    run: read its annotations again (`reload_recording_task`), plan it within its split's `thresholds` (or plan its
    `drawn` clips), and render it (or write its planned part)."""
    try:
        loaded = reload_recording_task.fn(row, video_size_px, source_dir)
    except Exception as exc:
        return _internal_error("plan", row, exc, recipe)
    return _planned_and_written(loaded, source_dir, output_dir, recipe, render, thresholds, drawn)


def _drawn_ids(drawn: Sequence[DrawnClip] | None) -> list[str] | None:
    """The clip ids of the drawn clips (None without random sampling), as a part's key takes them."""
    if drawn is None:
        return None
    return [make_clip_id(c.recording_id, c.start_frame, c.view_azimuth_deg, c.view_elevation_deg) for c in drawn]
