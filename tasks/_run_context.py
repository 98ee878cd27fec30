"""What a task uses of the Prefect run it is in, if it is in one: the run's logger, and whether artifacts can be
published.

Tasks are also called as plain functions (`Task.fn`, e.g. by the benchmark's run without Prefect): there is then
no run to log to or to attach an artifact to, so logs go to a standard `logging` logger and artifacts are skipped.
"""

from __future__ import annotations

import logging

from prefect import get_run_logger
from prefect.context import FlowRunContext, TaskRunContext

__all__ = ["in_prefect_run", "run_logger"]


def in_prefect_run() -> bool:
    """Whether the calling code runs inside a Prefect task run or flow run."""
    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


def run_logger(name: str) -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run's logger inside a run, else the standard logger `name` (give the caller's `__name__`)."""
    return get_run_logger() if in_prefect_run() else logging.getLogger(name)
