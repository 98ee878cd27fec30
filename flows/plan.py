"""The plan flow: STARSS-style recordings (or their annotations alone) → the Parquet manifests of the clips a curate
run would write, without touching any media.

discover → inspect (per recording) → plan part (per recording) → manifests + splits → report.
Composition only: the body is `flows.pipeline.run_curation` with `render=False`, run here with Prefect tasks.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed, State

from data_contracts.recipe import load_recipe
from flows.pipeline import PrefectTaskCaller, run_curation
from flows.runners import make_task_runner


@flow(name="plan", task_runner=make_task_runner())
def plan(
    source_dir: str,
    output_dir: str,
    recipe: str | dict[str, Any] | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    annotations_only: bool = False,
) -> State:
    """Plan SAVGBench clips from `source_dir` (STARSS23 layout) into the manifests under `output_dir`.

    `recipe` is a recipe name (e.g. "exhaustive"), a YAML path or a mapping (default: the SAVGBench recipe);
    `overrides` are `key=value` strings (values parsed as YAML) or a mapping. With `annotations_only`, a recording
    needs only its annotation csv (`metadata_dev/…`): its media are looked at for the duration only, when present.
    The run ends Completed with a message counting the recordings planned and rejected; its result is the paths of
    the manifests, split lists and report.
    """
    curation_recipe = load_recipe(recipe, overrides)  # refused here, before any work, if invalid
    run = run_curation(source_dir, output_dir, curation_recipe, PrefectTaskCaller(), render=False,
                       annotations_only=annotations_only)
    return Completed(message=run.summary, data=run.paths)
