"""The curate flow: raw STARSS-style recordings → clips, Parquet manifests, splits and a report.

discover → inspect (per recording) → plan (per recording) → render (per recording) → verify (per recording, when
the recipe says so) → manifests + splits → report → audit page.
Composition only: the body is `flows.pipeline.run_curation` (shared with the benchmark's run without Prefect), run
here with Prefect tasks; the work lives in `tasks/` (I/O) and `curation/` (math and media).
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed, State

from data_contracts.recipe import load_recipe
from flows.pipeline import PrefectTaskCaller, run_curation
from flows.runners import make_task_runner


@flow(name="curate", task_runner=make_task_runner())
def curate(
    source_dir: str,
    output_dir: str,
    recipe: str | dict[str, Any] | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> State:
    """Curate SAVGBench clips from `source_dir` (STARSS23 layout) into `output_dir`.

    `recipe` is a YAML path, a shipped recipe's name (`release`, `exhaustive`) or a mapping (default: the SAVGBench
    rule itself, as `exhaustive`; the `savgbench` deployments and the CLI give `release`); `overrides` are
    `key=value` strings (values parsed as YAML) or a mapping. The run ends Completed, also when recordings were
    rejected, with a message counting the recordings curated and rejected; its result, what calling `curate(...)`
    returns, is the paths of the manifests, split lists, report and audit page (`curate(..., return_state=True)`
    gives the state itself).
    """
    curation_recipe = load_recipe(recipe, overrides)  # refused here, before any work, if invalid
    run = run_curation(source_dir, output_dir, curation_recipe, PrefectTaskCaller())
    return Completed(message=run.summary, data=run.paths)
