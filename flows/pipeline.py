"""The curate flow's body, written once: discover → inspect → plan → render → verify (when the recipe says
so) → manifests + splits → report → audit page; planning only (the plan flow, `render=False`): discover → inspect →
plan part → manifests + splits → report.

Each recording's last task writes its rows as the recording's part (`tasks.parts`) and hands back a summary of
counts; the manifests are merged from the parts. The flow holds the summaries and the recordings and rejects rows of
the run, never the clips or events of all recordings. With a clip budget or a class balance, every recording is
planned first for its clip hashes (8 bytes a clip, all the flow holds of the plans), each split's thresholds are
decided from them, and only then are the recordings planned again and rendered (see `run_curation`).

`run_curation` composes the tasks through a `TaskCaller`, which decides how a task runs:
- `PrefectTaskCaller` (the `curate` flow): a call is a task run, a submit goes to the flow's Prefect task runner;
- `PlainTaskCaller` (the benchmark's run without Prefect): the task's function (`Task.fn`) itself, submits to a
  `concurrent.futures.ThreadPoolExecutor`, so that the difference in wall time is what Prefect costs.
Both get the same work in the same order, so both write the same bytes.

Nothing one recording does stops the run: an exception a recording's task raises (inspect, plan, render, verify)
rejects that recording as `internal_error` and the others go on. Failures of the run's own tasks (discover, the
manifests, the report, the audit page) fail the run. The run holds the output folder's lock (`tasks.run_lock`)
throughout, so a second run on the same folder is refused at once.
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
from data_contracts.manifests import RecordingRow, RejectRow
from data_contracts.recipe import Recipe
from tasks._run_context import run_logger
from tasks.audit import audit
from tasks.curate_recording import (
    RecordingSummary,
    plan_candidates_task,
    plan_part_task,
    plan_recording_task,
    reload_recording_task,
    render_recording_task,
)
from tasks.discover import LoadedRecording, discover, inspect_recording
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

__all__ = ["CurationRun", "TaskCaller", "TaskFuture", "PrefectTaskCaller", "PlainTaskCaller", "run_curation"]


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


# Recordings whose tasks are submitted and not yet done: what the flow holds at once (their inspections' results,
# and the plans the render tasks are given) is bounded by this many recordings, not by the corpus.
MAX_RECORDINGS_IN_FLIGHT = 16


def run_curation(source_dir: str, output_dir: str, recipe: Recipe, caller: TaskCaller, *, render: bool = True,
                 annotations_only: bool = False) -> CurationRun:
    """Curate the recordings under `source_dir` into `output_dir` with `recipe`, running the tasks through `caller`.

    Each recording's tasks end by writing its part (`tasks.parts`) and hand back only a summary; the manifests are
    merged from the parts (`tasks.manifests.write_manifests`). At most `MAX_RECORDINGS_IN_FLIGHT` recordings are
    between their inspection and their last task at once: inspections are submitted ahead, each accepted
    recording's plan and render as its inspection comes back, in discovery order; verification (only when
    `recipe.verify`: otherwise no such task runs at all) follows each render. A recording whose task raises is
    rejected (`internal_error`, in the stage that raised) and the run goes on. Raises
    `tasks.run_lock.OutputBusy`, before any work, when another run holds `output_dir`.

    With a clip budget or a class balance (`tasks.outcomes.budget_applies`) which clips a recording keeps depends
    on the whole split, so the run goes in two passes, each bounded the same way: first every recording is
    inspected and planned for its clip hashes only (`plan_candidates_task`); then each split's thresholds are
    decided (`tasks.outcomes.decide_budgets`: the flow holds 8 bytes a clip, never the plans); then, in discovery
    order, each recording's annotations are read again (`reload_recording_task`), and it is planned with its
    split's thresholds and rendered (or its part written). The kept clips depend on the recordings and the recipe
    only: not on the order tasks finish in, the task runner, or what earlier runs rendered.

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
    """A recording in flight: its discovery, then its inspection's future, then its tasks' futures (dropped, with
    what they hold, once the recording is done). With a budget, between the two passes: its row and video size
    (`loaded`, then, is the future of its annotations read again)."""

    source: SourceRecording
    split: str
    inspection: TaskFuture | None = None
    recording_id: str = ""
    loaded: TaskFuture | None = None
    plan: TaskFuture | None = None
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
        # Passed only when set, so discovery and inspection tasks without the parameter still run.
        self.flags = (True,) if annotations_only else ()
        self.logger = run_logger(__name__)
        self.recordings: list[RecordingRow] = []
        self.rejects: list[RejectRow] = []
        self.summaries: list[RecordingSummary] = []  # in discovery order, failed renders included
        # With a budget: clip hashes per split and target class (one array per recording), and the thresholds.
        self.hashes: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
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
        if budget_applies(recipe):
            planned: list[_Recording] = []
            self._inspect_and_work(waiting, self._submit_candidates, lambda r: self._take_candidates(r, planned))
            self.budgets = decide_budgets(self.hashes, self.recordings, recipe)
            self.hashes.clear()
            for split, budget in self.budgets.items():
                logger.info("budget of %s: %.3f accepted source hours, %s clips; kept per class %s (of %s)", split,
                            budget.source_hours, "no limit" if budget.budget is None else budget.budget,
                            budget.kept, budget.candidates)
            self._work(deque(planned), self._submit_budgeted, self._finish)
        else:
            self._inspect_and_work(waiting, self._submit, self._finish)

        summaries = self.summaries
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

    def _inspect_and_work(self, waiting: deque[_Recording], submit, finish) -> None:
        """Inspect the waiting recordings (submitted ahead), `submit` each accepted one's work as its inspection comes
        back, in discovery order, and `finish` it: at most `MAX_RECORDINGS_IN_FLIGHT` in flight."""
        inspecting: deque[_Recording] = deque()
        working: deque[_Recording] = deque()

        def in_flight() -> int:
            return len(inspecting) + len(working)

        def fill() -> None:
            while waiting and in_flight() < MAX_RECORDINGS_IN_FLIGHT:
                recording = waiting.popleft()
                recording.inspection = self.caller.submit(inspect_recording, recording.source, recording.split,
                                                          self.source_dir, self.recipe, *self.flags)
                inspecting.append(recording)

        fill()
        while inspecting:
            recording = inspecting.popleft()
            loaded = self._inspected(recording)
            if loaded is not None:
                submit(recording, loaded)
                working.append(recording)
            while working and (in_flight() >= MAX_RECORDINGS_IN_FLIGHT or not (inspecting or waiting)):
                finish(working.popleft())
            fill()

    def _work(self, waiting: deque[_Recording], submit, finish) -> None:
        """`submit` the waiting recordings' work in order and `finish` each: at most `MAX_RECORDINGS_IN_FLIGHT` in
        flight."""
        working: deque[_Recording] = deque()
        while waiting or working:
            while waiting and len(working) < MAX_RECORDINGS_IN_FLIGHT:
                recording = waiting.popleft()
                submit(recording)
                working.append(recording)
            finish(working.popleft())

    def _inspected(self, recording: _Recording) -> LoadedRecording | None:
        """Take the recording's inspection: its row, and what it loaded when it passed (None when rejected)."""
        inspection, recording.inspection = recording.inspection, None
        try:
            inspected = inspection.result()
        except Exception as exc:
            self.recordings.append(internal_error_row(recording.source, recording.split, self.recipe.recipe_hash))
            self.rejects.append(self._internal_error("inspect", recording.source.recording_id, exc))
            return None
        self.recordings.append(inspected.row)
        if inspected.reject is not None:
            self.rejects.append(inspected.reject)
            return None
        recording.recording_id = inspected.row.recording_id
        return inspected.loaded

    def _submit(self, recording: _Recording, loaded: LoadedRecording, thresholds: dict[str, int] | None = None
                ) -> None:
        """Submit the recording's plan and render (or plan part); `loaded` may be a future. The thresholds (with a
        budget) are passed only when set, so tasks without the parameter still run."""
        caller, recipe, extra = self.caller, self.recipe, () if thresholds is None else (thresholds,)
        if self.render:
            recording.plan = caller.submit(plan_recording_task, loaded, recipe, *extra)
            recording.work = caller.submit(render_recording_task, loaded, recording.plan, self.source_dir,
                                           self.output_dir, recipe, *extra)
        else:
            recording.work = caller.submit(plan_part_task, loaded, self.output_dir, recipe, *extra)

    def _finish(self, recording: _Recording) -> None:
        """Wait for the recording's tasks (verifying its part when asked) and keep its summary."""
        caller, recipe = self.caller, self.recipe
        stage = "plan"  # the stage running when an exception comes: the one the recording is rejected in
        try:
            if recording.loaded is not None:
                recording.loaded.result()
            if recording.plan is not None:
                recording.plan.result()
                stage = "render"
            summary = recording.work.result()
            if self.verify and summary.failure is None:
                stage = "verify"
                verified = caller.call(verify_part, summary, self.output_dir, recipe, self.source_dir)
                # The verified part's summary counts its clips; the funnel's stages are the render's.
                summary = replace(verified, funnel=summary.funnel)
        except Exception as exc:
            if stage == "plan":
                # The tasks given the failed reload or plan fail too: not reported again.
                for future in (recording.plan, recording.work):
                    if future is not None:
                        future.wait()
            self.rejects.append(self._internal_error(stage, recording.recording_id, exc))
            self.recordings = mark_rejected(self.recordings, recording.recording_id, INTERNAL_ERROR)
            return
        finally:
            # A future holds its task's result and arguments.
            recording.loaded = recording.plan = recording.work = None
        if summary.failure is not None:
            self.rejects.append(summary.failure)
            self.recordings = mark_render_failure(self.recordings, summary)
        self.summaries.append(summary)

    def _submit_candidates(self, recording: _Recording, loaded: LoadedRecording) -> None:
        """Budget, first pass: submit the recording's plan for its clip hashes; keep what the second pass needs."""
        recording.row, recording.video_size_px = loaded.row, loaded.video_size_px
        recording.work = self.caller.submit(plan_candidates_task, loaded, self.recipe)

    def _take_candidates(self, recording: _Recording, planned: list[_Recording]) -> None:
        """Budget, first pass: keep the recording's clip hashes (a plan that raises rejects the recording)."""
        try:
            candidates = recording.work.result()
        except Exception as exc:
            self.rejects.append(self._internal_error("plan", recording.recording_id, exc))
            self.recordings = mark_rejected(self.recordings, recording.recording_id, INTERNAL_ERROR)
            return
        finally:
            recording.work = None
        for target, hashes in candidates.hashes.items():
            self.hashes[candidates.split][target].append(hashes)
        planned.append(recording)

    def _submit_budgeted(self, recording: _Recording) -> None:
        """Budget, second pass: read the recording's annotations again, then plan and render it (or write its
        part) with its split's thresholds."""
        recording.loaded = self.caller.submit(reload_recording_task, recording.row, recording.video_size_px,
                                              self.source_dir)
        self._submit(recording, recording.loaded, self.budgets[recording.row.split].thresholds)
        recording.row = None

    def _internal_error(self, stage: str, recording_id: str, exc: Exception) -> RejectRow:
        """Log a recording's task exception with its traceback; the rejects row that stands for it."""
        self.logger.error("%s: the %s task raised %s: %s; the recording is rejected (%s), the run goes on",
                          recording_id, stage, type(exc).__name__, exc, INTERNAL_ERROR, exc_info=exc)
        return internal_error_reject(stage, recording_id, exc, self.recipe.recipe_hash)
