"""The curate flow's body, written once: discover → inspect → plan → render → verify (when the recipe says
so) → manifests + splits → report → audit page.

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

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pyarrow.parquet as pq
from prefect import Task

from curation.discover import folder_problem
from data_contracts.manifests import RejectRow
from data_contracts.recipe import Recipe
from tasks._run_context import run_logger
from tasks.audit import audit
from tasks.curate_recording import plan_recording_task, render_recording_task
from tasks.discover import discover, inspect_recording
from tasks.manifests import prune_stale_outputs, write_manifests
from tasks.outcomes import (
    INTERNAL_ERROR,
    count_pairs,
    internal_error_reject,
    internal_error_row,
    mark_rejected,
    mark_render_failure,
    output_rejects,
    relative_detail,
    sum_stage_seconds,
)
from tasks.report import report
from tasks.run_lock import OutputLock
from tasks.verify import recipe_detect, verify_recording

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
    clips the manifests list, the recordings that went through rendering (rendered now or before) and the render
    stages' seconds summed over them; the recordings the manifests list, and those of them rejected."""

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


def _internal_error(logger, stage: str, recording_id: str, exc: Exception, recipe: Recipe) -> RejectRow:
    """Log a recording's task exception with its traceback; the rejects row that stands for it."""
    logger.error("%s: the %s task raised %s: %s; the recording is rejected (%s), the run goes on", recording_id,
                 stage, type(exc).__name__, exc, INTERNAL_ERROR, exc_info=exc)
    return internal_error_reject(stage, recording_id, exc, recipe.recipe_hash)


def run_curation(source_dir: str, output_dir: str, recipe: Recipe, caller: TaskCaller) -> CurationRun:
    """Curate the recordings under `source_dir` into `output_dir` with `recipe`, running the tasks through `caller`.

    Inspections are all submitted first, then each accepted recording's plan and render as its inspection comes
    back; verification (only when `recipe.verify`: otherwise no such task runs at all) follows each render. A
    recording whose task raises is rejected (`internal_error`, in the stage that raised) and the run goes on. Raises
    `tasks.run_lock.OutputBusy`, before any work, when another run holds `output_dir`.
    """
    problem = folder_problem(Path(source_dir), Path(output_dir))
    if problem is not None:  # `savgbench curate` refuses this before Prefect starts; a deployment run gets it here
        raise ValueError(problem)
    roots = (source_dir, output_dir)  # as given: reject details leave out every spelling of them
    source_dir, output_dir = str(Path(source_dir).resolve()), str(Path(output_dir).resolve())
    with OutputLock(output_dir, "curate"):
        return _curate(source_dir, output_dir, recipe, caller, roots)


def _curate(source_dir: str, output_dir: str, recipe: Recipe, caller: TaskCaller, roots: tuple[str, str]
            ) -> CurationRun:
    """`run_curation`'s work, once the folders are checked and the output folder's lock is held."""
    logger = run_logger(__name__)
    logger.info("recipe %s: %d views, window %d frames, hop %d", recipe.recipe_hash,
                len(recipe.view_azimuths_deg) * len(recipe.view_elevations_deg), recipe.window_frames,
                recipe.hop_frames)
    if recipe.verify:
        recipe_detect(recipe)  # weights that cannot be had fail the run now, not after rendering

    found = caller.call(discover, source_dir, recipe)
    recordings, rejects = list(found.rejected_rows), list(found.rejects)
    inspections = [(source, split, caller.submit(inspect_recording, source, split, source_dir, recipe))
                   for source, split in found.accepted]
    rendering = []
    for source, split, inspection in inspections:
        try:
            inspected = inspection.result()
        except Exception as exc:
            recordings.append(internal_error_row(source, split, recipe.recipe_hash))
            rejects.append(_internal_error(logger, "inspect", source.recording_id, exc, recipe))
            continue
        recordings.append(inspected.row)
        if inspected.reject is not None:
            rejects.append(inspected.reject)
            continue
        plan = caller.submit(plan_recording_task, inspected.loaded, recipe)
        rendering.append((inspected.row.recording_id, plan,
                          caller.submit(render_recording_task, inspected.loaded, plan, source_dir, output_dir, recipe)))

    outputs, detections = [], []
    for recording_id, plan_future, render_future in rendering:
        stage = "plan"  # the stage running when an exception comes: the one the recording is rejected in
        try:
            plan_future.result()
            stage = "render"
            output = render_future.result()
            if recipe.verify:
                stage = "verify"
                verified = caller.call(verify_recording, output, output_dir, recipe)
        except Exception as exc:
            if stage == "plan":
                render_future.wait()  # the render, given the failed plan, fails too: not reported again
            rejects.append(_internal_error(logger, stage, recording_id, exc, recipe))
            recordings = mark_rejected(recordings, recording_id, INTERNAL_ERROR)
            continue
        if recipe.verify:
            output = verified.output
            detections.append(verified.detections)
            rejects.extend(verified.rejects)
        rejects.extend(output_rejects(output))
        recordings = mark_render_failure(recordings, output)
        outputs.append(output)
    rejects = [replace(r, detail=relative_detail(r.detail, *roots)) for r in rejects]
    seconds = sum_stage_seconds(outputs)
    pairs = count_pairs(outputs)

    paths = caller.call(write_manifests, output_dir, recordings, outputs, rejects,
                        detections if recipe.verify else None)
    clips = pq.read_table(paths["clips"])
    caller.call(prune_stale_outputs, output_dir, clips.column("clip_id").to_pylist(),
                [r.recording_id for r in recordings])
    paths["report"] = caller.call(report, output_dir, recordings, pairs.n_candidates, pairs.n_qualifying, clips,
                                  rejects, seconds)
    paths["audit"] = caller.call(audit, output_dir)
    n_rendered_clips = sum(o.n_rendered for o in outputs)
    n_rejected = sum(r.status == "rejected" for r in recordings)
    logger.info("curated %d clips (%d rendered now) from %d recordings into %s; %d recordings rejected",
                clips.num_rows, n_rendered_clips, len(outputs), output_dir, n_rejected)
    return CurationRun(paths, clips.num_rows, len(outputs), n_rendered_clips, seconds, len(recordings), n_rejected)
