"""Which engine runs the curate flow's tasks: chosen in this one place, without code changes.

`SAVGBENCH_TASK_RUNNER` = `threads` (default), `processes` or `dask`; `SAVGBENCH_WORKERS` (default 2) sizes the
pool or the local Dask cluster; `SAVGBENCH_DASK_ADDRESS` (e.g. `tcp://scheduler:8786`) connects to an existing Dask
scheduler instead of starting a local cluster. Set them in the environment, in a deployment's `job_variables.env`
(see `curate/dask` in prefect.yaml), or with `savgbench curate --task-runner`.
"""

from __future__ import annotations

import os

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

RUNNERS = ("threads", "processes", "dask")


def make_task_runner(kind: str | None = None, workers: int | None = None, dask_address: str | None = None) -> TaskRunner:
    """A Prefect task runner; arguments left None come from the SAVGBENCH_* environment variables."""
    kind = (kind or os.environ.get("SAVGBENCH_TASK_RUNNER") or "threads").strip().lower()
    workers = workers or int(os.environ.get("SAVGBENCH_WORKERS") or 2)
    dask_address = dask_address or os.environ.get("SAVGBENCH_DASK_ADDRESS") or None
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        # One thread per worker process: the render step already uses every core of its machine.
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})
    raise ValueError(f"SAVGBENCH_TASK_RUNNER={kind!r}: expected one of {', '.join(RUNNERS)}")
