"""The curate flow's body, written once: discover → per recording, inspect → plan → render (one task run) → verify
(when the recipe says so) → manifests + splits → report → audit page; planning only (the plan flow,
`render=False`): discover → per recording, inspect → plan part (one task run) → manifests + splits → report.

A recording's stages run in one task run (`tasks.curate_recording`), since Prefect's cost grows with the task runs.
Its task writes its rows as the recording's part (`tasks.parts`) and hands back a summary of counts; the manifests
are merged from the parts. The flow holds the summaries and the recordings and rejects rows of the run, never the
clips or events of all recordings. With a clip budget or a class balance, every recording is planned first for its
clip hashes (8 bytes a clip, all the flow holds of the plans), each split's thresholds are decided from them, and
only then are the recordings planned again and rendered (see `run_curation`).

`run_curation` composes the tasks through a `TaskCaller`, which decides how a task runs:
- `PrefectTaskCaller` (the `curate` flow): a call is a task run, a submit goes to the flow's Prefect task runner;
- `PlainTaskCaller` (the benchmark's run without Prefect): the task's function (`Task.fn`) itself, submits to a
  `concurrent.futures.ThreadPoolExecutor`, so that the difference in wall time is what Prefect costs.
Both get the same work in the same order, so both write the same bytes.

Nothing one recording does stops the run: an exception in one of a recording's stages (inspect, plan, render,
verify) rejects that recording as `internal_error` in that stage and the others go on. Failures of the run's own
tasks (discover, the manifests, the report, the audit page) fail the run. The run holds the output folder's lock
(`tasks.run_lock`) throughout, so a second run on the same folder is refused at once.
"""

from __future__ import annotations

from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pyarrow.parquet as pq
from prefect import Task

from curation.discover import SourceRecording, folder_problem
from curation.sampling import ClipDraws, DrawnClip, split_seed, view_grid_deg
from data_contracts.manifests import RecordingRow, RejectRow
from data_contracts.recipe import Recipe
from data_contracts.timebase import whole_label_frames
from tasks._run_context import run_logger
from tasks.audit import audit
from tasks.curate_recording import (
    RecordingOutcome,
    RecordingSummary,
    curate_budgeted_task,
    curate_recording_task,
    recording_candidates_task,
)
from tasks.discover import discover
from tasks.manifests import prune_stale_outputs, write_manifests
from tasks.outcomes import (
    INTERNAL_ERROR,
    SplitBudget,
    budget_applies,
    count_pairs,
    decide_budgets,
    internal_error_reject,
    internal_error_row,
    mark_rejected,
    mark_render_failure,
    relative_detail,
    sum_funnel,
    sum_stage_seconds,
)
from tasks.report import budget_summary, report
from tasks.run_lock import OutputLock
from tasks.verify import recipe_detect, verify_part

__all__ = ["CurationRun", "PlainTaskCaller", "PrefectTaskCaller", "TaskCaller", "TaskFuture", "run_curation"]


class TaskFuture(Protocol):
    """A submitted task's pending result."""

    def result(self) -> Any:
        """Wait for the task and return its result (raising its exception)."""

    def wait(self) -> None:
        """Wait for the task to finish, without fetching its result."""


class TaskCaller(Protocol):
    """How `run_curation` runs a task: now, or submitted to run in parallel."""

    def call(self, task: Task, *args: Any) -> Any:
        """Run the task to completion and return its result."""

    def submit(self, task: Task, *args: Any) -> TaskFuture:
        """Start the task; arguments may be futures of tasks submitted earlier (their results are passed)."""


class PrefectTaskCaller:
    """Tasks as Prefect task runs of the current flow run, submits through the flow's task runner."""

    def call(self, task: Task, *args: Any) -> Any:
        return task(*args)

    def submit(self, task: Task, *args: Any) -> TaskFuture:
        return task.submit(*args)


class _PlainFuture:
    """A `concurrent.futures.Future` with the `wait()` of a Prefect future."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def result(self) -> Any:
        return self._future.result()

    def wait(self) -> None:
        self._future.exception()  # waits; a failure is raised by result()


def _resolved(value: Any) -> Any:
    return value.result() if isinstance(value, _PlainFuture) else value


class PlainTaskCaller:
    """Tasks as plain calls of their functions (`Task.fn`), submits to a thread pool of `workers` threads, like the
    flow's default `ThreadPoolTaskRunner`: a submitted task whose arguments include futures waits for them in its
    worker thread. The pool is first-in first-out and a task only waits for tasks submitted before it, which have
    then started already, so the waits cannot deadlock. Use as a context manager (it owns the pool)."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)

    def __enter__(self) -> "PlainTaskCaller":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def call(self, task: Task, *args: Any) -> Any:
        return task.fn(*args)

    def submit(self, task: Task, *args: Any) -> TaskFuture:
        return _PlainFuture(self._pool.submit(lambda: task.fn(*[_resolved(a) for a in args])))


@dataclass(frozen=True)
class CurationRun:
    """What `run_curation` did: the paths of the files it wrote (manifests, split lists, report, audit page), the
    clips the manifests list, the recordings that went through rendering (rendered now or before; planning only:
    planned), the clips rendered now and the render stages' seconds summed over them; the recordings the manifests
    list, and those of them rejected."""

    paths: dict[str, str]
    n_clips: int
    n_rendered_recordings: int
    n_rendered_clips: int
    seconds: dict[str, float]
    n_recordings: int
    n_rejected_recordings: int

    @property
    def summary(self) -> str:
        """One line saying how many recordings were curated and rejected, and where the rejects are listed."""
        return (f"recordings: {self.n_recordings - self.n_rejected_recordings} curated ({self.n_clips} clips), "
                f"{self.n_rejected_recordings} rejected (see {self.paths['rejects']})")


# Random sampling: rounds of drawing again for the clips later stages rejected, at most.
MAX_SAMPLING_ROUNDS = 20

# Recordings whose tasks are submitted and not yet done: what the flow holds at once (their inspections' results,
# and the plans the render tasks are given) is bounded by this many recordings, not by the corpus.
MAX_RECORDINGS_IN_FLIGHT = 16


def run_curation(source_dir: str, output_dir: str, recipe: Recipe, caller: TaskCaller, *, render: bool = True,
                 annotations_only: bool = False) -> CurationRun:
    """Curate the recordings under `source_dir` into `output_dir` with `recipe`, running the tasks through `caller`.

    Each recording's task (inspect, plan, render: `tasks.curate_recording.curate_recording_task`) ends by writing
    its part (`tasks.parts`) and hands back only its row and a summary; the manifests are merged from the parts
    (`tasks.manifests.write_manifests`). The tasks are submitted in discovery order, at most
    `MAX_RECORDINGS_IN_FLIGHT` at once, and taken in that order; verification (only when `recipe.verify`: otherwise
    no such task runs at all) follows each render. A recording one of whose stages raises is rejected
    (`internal_error`, in that stage) and the run goes on. Raises
    `tasks.run_lock.OutputBusy`, before any work, when another run holds `output_dir`.

    With a clip budget or a class balance (`tasks.outcomes.budget_applies`) which clips a recording keeps depends
    on the whole split, so the run goes in two passes, each bounded the same way: first every recording is
    inspected and planned for its clip hashes only (one task run each: `recording_candidates_task`); then each
    split's thresholds are decided (`tasks.outcomes.decide_budgets`: the flow holds 8 bytes a clip, never the
    plans); then, in discovery order, each recording's annotations are read again, and it is planned with its
    split's thresholds and rendered, or its part written (one task run each: `curate_budgeted_task`). The kept
    clips depend on the recordings and the recipe only: not on the order tasks finish in, the task runner, or what
    earlier runs rendered.

    `render=False` plans only (`savgbench plan`): each recording's plan becomes its part (`plan_part_task`: the
    clips it would render, media paths included), no media is written, verified, pruned or audited; the manifests,
    split lists and report describe the plan. Meant for a fresh output folder: clip files of an earlier curate run
    in it are left alone, and not listed. `annotations_only` (planning only; raises ValueError with `render`) is
    passed on to discovery and inspection: a recording needs only its annotation CSV.
    """
    if render and annotations_only:
        raise ValueError("annotations_only is for planning (render=False): rendering needs the audio and video")
    problem = folder_problem(Path(source_dir), Path(output_dir), annotations_only=annotations_only)
    if problem is not None:  # `savgbench curate` refuses this before Prefect starts; a deployment run gets it here
        raise ValueError(problem)
    roots = (source_dir, output_dir)  # as given: reject details leave out every spelling of them
    source_dir, output_dir = str(Path(source_dir).resolve()), str(Path(output_dir).resolve())
    with OutputLock(output_dir, "curate" if render else "plan"):
        return _Run(source_dir, output_dir, recipe, caller, render, annotations_only).curate(roots)


@dataclass
class _Recording:
    """A recording in flight: its discovery, then its task's future (dropped, with what it holds, once the
    recording is done). With a budget, between the two passes: its row and video size."""

    source: SourceRecording
    split: str
    work: TaskFuture | None = None
    row: RecordingRow | None = None
    video_size_px: tuple[int, int] | None = None


class _Run:
    """`run_curation`'s work, once the folders are checked and the output folder's lock is held: the run's
    recordings and rejects rows and the recordings' summaries, as the tasks come back."""

    def __init__(self, source_dir: str, output_dir: str, recipe: Recipe, caller: TaskCaller, render: bool,
                 annotations_only: bool) -> None:
        self.source_dir, self.output_dir, self.recipe, self.caller = source_dir, output_dir, recipe, caller
        self.render = render
        self.verify = render and recipe.verify
        # Passed only when set, so discovery tasks without the parameter still run.
        self.flags = (True,) if annotations_only else ()
        self.logger = run_logger(__name__)
        self.recordings: list[RecordingRow] = []
        self.rejects: list[RejectRow] = []
        # By recording id, in discovery order, failed renders included (random sampling may curate a recording
        # again: its latest summary stands).
        self.summaries: dict[str, RecordingSummary] = {}
        # With a budget: clip hashes per split and target class (one array per recording), and the thresholds.
        self.hashes: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        # With `fill_max_near_duplicates`: the same of the clips that may fill a budget, and per split the
        # near-repeats among its clips after the clip gap.
        self.fill_hashes: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        self.near_duplicates: dict[str, int] = defaultdict(int)
        self.budgets: dict[str, SplitBudget] | None = None

    def curate(self, roots: tuple[str, str]) -> CurationRun:
        recipe, caller, output_dir, render = self.recipe, self.caller, self.output_dir, self.render
        logger = self.logger
        logger.info("recipe %s: %d views, window %d frames, hop %d%s", recipe.recipe_hash,
                    len(recipe.view_azimuths_deg) * len(recipe.view_elevations_deg), recipe.window_frames,
                    recipe.hop_frames, "" if render else "; planning only")
        if self.verify:
            recipe_detect(recipe)  # weights that cannot be had fail the run now, not after rendering

        found = caller.call(discover, self.source_dir, recipe, *self.flags)
        self.recordings, self.rejects = list(found.rejected_rows), list(found.rejects)
        waiting = deque(_Recording(source, split) for source, split in found.accepted)
        if recipe.sampling == "random":
            inspected: list[_Recording] = []
            self._work(waiting, self._submit_candidates, lambda r: self._take_candidates(r, inspected))
            self._sample(inspected)
        elif budget_applies(recipe):
            planned: list[_Recording] = []
            self._work(waiting, self._submit_candidates, lambda r: self._take_candidates(r, planned))
            self.budgets = decide_budgets(self.hashes, self.recordings, recipe, self.fill_hashes,
                                          self.near_duplicates)
            self.hashes.clear()
            self.fill_hashes.clear()
            for split, budget in self.budgets.items():
                logger.info("budget of %s: %.3f accepted source hours, %s clips; kept per class %s (of %s)%s", split,
                            budget.source_hours, "no limit" if budget.budget is None else budget.budget,
                            budget.kept, budget.candidates,
                            f"; filled per class {budget.filled} (of {budget.fill_candidates})" if budget.filled
                            else "")
            self._work(deque(planned), self._submit_budgeted, self._finish)
        else:
            self._work(waiting, self._submit, self._finish)

        summaries = list(self.summaries.values())
        rejects = [replace(r, detail=relative_detail(r.detail, *roots)) for r in self.rejects]
        seconds = sum_stage_seconds(summaries)
        pairs = count_pairs(summaries)
        funnel = sum_funnel(summaries, self.recordings, self.budgets)
        # A recording whose task raised has no summary; one dropped while rendering has no part.
        part_keys = {s.recording_id: s.part_key for s in summaries if s.failure is None}

        recordings = self.recordings
        paths = caller.call(write_manifests, output_dir, recordings, part_keys, rejects, self.verify)
        recording_ids = [r.recording_id for r in recordings]
        if render:
            clip_ids = pq.read_table(paths["clips"], columns=["clip_id"]).column("clip_id")
            caller.call(prune_stale_outputs, output_dir, clip_ids, recording_ids)
            del clip_ids
        else:
            caller.call(prune_stale_outputs, output_dir, None, recording_ids)
        budget_rows = None if self.budgets is None else budget_summary(self.budgets)
        paths["report"] = caller.call(report, output_dir, recordings, pairs.n_candidates, pairs.n_qualifying, seconds,
                                      funnel, not render, budget_rows)
        if render:
            paths["audit"] = caller.call(audit, output_dir)
        n_clips = pq.read_metadata(paths["clips"]).num_rows
        n_rendered_clips = sum(s.n_rendered for s in summaries)
        n_rejected = sum(r.status == "rejected" for r in recordings)
        logger.info("%s %d clips (%d rendered now) from %d recordings into %s; %d recordings rejected",
                    "curated" if render else "planned", n_clips, n_rendered_clips, len(summaries), output_dir,
                    n_rejected)
        return CurationRun(paths, n_clips, len(summaries), n_rendered_clips, seconds, len(recordings), n_rejected)

    def _work(self, waiting: deque[_Recording], submit, finish) -> None:
        """`submit` the waiting recordings' tasks in discovery order and `finish` each, in the same order: at most
        `MAX_RECORDINGS_IN_FLIGHT` in flight."""
        working: deque[_Recording] = deque()
        while waiting or working:
            while waiting and len(working) < MAX_RECORDINGS_IN_FLIGHT:
                recording = waiting.popleft()
                submit(recording)
                working.append(recording)
            finish(working.popleft())

    def _outcome(self, recording: _Recording, stage: str) -> RecordingOutcome:
        """The recording's task's outcome. The task turns its stages' exceptions into rejects itself; one that
        escapes it (e.g. a worker lost) rejects the recording in `stage`, the stage its task ends with."""
        future, recording.work = recording.work, None  # a future holds its task's result and arguments
        try:
            return future.result()
        except Exception as exc:
            row = recording.row or internal_error_row(recording.source, recording.split, self.recipe.recipe_hash)
            return RecordingOutcome(replace(row, status="rejected", reason=INTERNAL_ERROR),
                                    self._internal_error(stage, row.recording_id, exc))

    def _take_row(self, recording: _Recording, outcome: RecordingOutcome) -> None:
        """Record the outcome's row (new, or, in a budget's second pass, a change of the row the run holds) and the
        rejects row that rejected it."""
        if recording.row is None:
            self.recordings.append(outcome.row)
        elif outcome.row.status == "rejected":
            self.recordings = mark_rejected(self.recordings, outcome.row.recording_id, outcome.row.reason)
            self.summaries.pop(outcome.row.recording_id, None)
        if outcome.reject is not None:
            self.rejects.append(outcome.reject)

    def _submit(self, recording: _Recording) -> None:
        """Submit the recording's one task: inspect, plan and render it (or write its planned part)."""
        recording.work = self.caller.submit(curate_recording_task, recording.source, recording.split,
                                            self.source_dir, self.output_dir, self.recipe, self.render,
                                            *self.flags)

    def _finish(self, recording: _Recording) -> None:
        """Take the recording's outcome (verifying its part when asked) and keep its summary."""
        outcome = self._outcome(recording, "render" if self.render else "plan")
        self._take_row(recording, outcome)
        recording.row = recording.video_size_px = None
        summary = outcome.summary
        if summary is None:
            return
        if self.verify and summary.failure is None:
            try:
                verified = self.caller.call(verify_part, summary, self.output_dir, self.recipe, self.source_dir)
            except Exception as exc:
                self.rejects.append(self._internal_error("verify", summary.recording_id, exc))
                self.recordings = mark_rejected(self.recordings, summary.recording_id, INTERNAL_ERROR)
                self.summaries.pop(summary.recording_id, None)
                return
            # The verified part's summary counts its clips; the funnel's stages are the render's.
            summary = replace(verified, funnel=summary.funnel)
        if summary.failure is not None:
            self.rejects.append(summary.failure)
            self.recordings = mark_render_failure(self.recordings, summary)
        self.summaries[summary.recording_id] = summary

    def _submit_candidates(self, recording: _Recording) -> None:
        """Budget, first pass: submit the recording's inspection and plan for its clip hashes."""
        recording.work = self.caller.submit(recording_candidates_task, recording.source, recording.split,
                                            self.source_dir, self.recipe, *self.flags)

    def _take_candidates(self, recording: _Recording, planned: list[_Recording]) -> None:
        """Budget (or random sampling), first pass: keep the recording's clip hashes, and its row and video size for
        the second."""
        outcome = self._outcome(recording, "plan")
        self._take_row(recording, outcome)
        if outcome.row.status != "ok":
            return
        candidates = outcome.candidates
        if candidates is not None:
            for target, hashes in candidates.hashes.items():
                self.hashes[candidates.split][target].append(hashes)
            for target, hashes in (candidates.fill_hashes or {}).items():
                self.fill_hashes[candidates.split][target].append(hashes)
            self.near_duplicates[candidates.split] += candidates.near_duplicates
        recording.row, recording.video_size_px = outcome.row, outcome.video_size_px
        planned.append(recording)

    def _submit_budgeted(self, recording: _Recording) -> None:
        """Budget, second pass: submit the recording's one task: read its annotations again, plan it with its
        split's thresholds, and render it (or write its planned part)."""
        row = recording.row
        recording.work = self.caller.submit(curate_budgeted_task, row, recording.video_size_px, self.source_dir,
                                            self.output_dir, self.recipe, self.budgets[row.split].thresholds,
                                            self.render)
        recording.video_size_px = None

    def _sample(self, inspected: list[_Recording]) -> None:
        """Random sampling, after the first pass: draw each split's `sample_clips` clips from its accepted recordings
        (`curation.sampling.ClipDraws`, seeded by the recipe's seed and the split), curate every recording with its
        draws (one without any gets an empty part), then draw again, from the same streams, as many clips as later
        stages rejected (clipped audio, verification) and curate the recordings those land in, until every split
        holds `sample_clips` clips or its recordings hold no more. A draw on a recording rejected meanwhile is
        dropped and replaced. The clips depend on the recordings and the recipe only."""
        recipe, logger = self.recipe, self.logger
        recordings = {r.row.recording_id: r for r in inspected}
        streams = {split: ClipDraws([(r.row.recording_id, whole_label_frames(r.row.duration_s))
                                     for r in inspected if r.row.split == split],
                                    recipe.window_frames, view_grid_deg(recipe.sample_view_step_deg),
                                    recipe.view_elevations_deg, split_seed(recipe.sample_seed, split))
                   for split in sorted({r.row.split for r in inspected})}
        drawn: dict[str, list[DrawnClip]] = {recording_id: [] for recording_id in recordings}
        missing = dict.fromkeys(streams, recipe.sample_clips)
        todo = set(recordings)  # the first round curates every recording, so that each has its part
        for round_number in range(1, MAX_SAMPLING_ROUNDS + 1):
            for split, n_missing in missing.items():
                for clip in self._draw(streams[split], n_missing, split):
                    drawn[clip.recording_id].append(clip)
                    todo.add(clip.recording_id)
            if not todo:
                return
            logger.info("random sampling, round %d: curating %d recordings (%s clips missing)", round_number,
                        len(todo), ", ".join(f"{split} {n}" for split, n in missing.items()))
            # A copy a round: `_finish` drops what a copy holds, the first pass's row and video size stay here.
            waiting = deque(replace(recordings[r]) for r in recordings if r in todo)
            self._work(waiting, lambda r: self._submit_drawn(r, tuple(drawn[r.row.recording_id])), self._finish)
            todo = set()
            kept = defaultdict(int)
            for summary in self.summaries.values():
                kept[recordings[summary.recording_id].split] += summary.n_clips
            missing = {split: recipe.sample_clips - kept[split] for split in streams}
        if any(missing.values()):
            logger.warning("random sampling: stopped after %d rounds with clips missing (%s)", MAX_SAMPLING_ROUNDS,
                           missing)

    def _draw(self, stream: ClipDraws, n_clips: int, split: str) -> list[DrawnClip]:
        """The stream's next `n_clips` draws on recordings still accepted (fewer, with a warning, when the split's
        recordings hold no more)."""
        ok = {r.recording_id for r in self.recordings if r.status == "ok"}
        clips: list[DrawnClip] = []
        while len(clips) < n_clips:
            n_take = min(n_clips - len(clips), stream.capacity - stream.n_drawn)
            if n_take <= 0:
                self.logger.warning("random sampling: the %s split's recordings hold %d distinct clips: %d of the "
                                    "%d asked for cannot be drawn", split, stream.capacity, n_clips - len(clips),
                                    self.recipe.sample_clips)
                break
            clips.extend(clip for clip in stream.take(n_take) if clip.recording_id in ok)
        return clips

    def _submit_drawn(self, recording: _Recording, drawn: tuple[DrawnClip, ...]) -> None:
        """Random sampling: submit the recording's one task: read its annotations again, plan its drawn clips, and
        render them (or write its planned part)."""
        recording.work = self.caller.submit(curate_budgeted_task, recording.row, recording.video_size_px,
                                            self.source_dir, self.output_dir, self.recipe, None, self.render, drawn)

    def _internal_error(self, stage: str, recording_id: str, exc: Exception) -> RejectRow:
        """Log a recording's task exception with its traceback; the rejects row that stands for it."""
        self.logger.error("%s: the %s task raised %s: %s; the recording is rejected (%s), the run goes on",
                          recording_id, stage, type(exc).__name__, exc, INTERNAL_ERROR, exc_info=exc)
        return internal_error_reject(stage, recording_id, exc, self.recipe.recipe_hash)
