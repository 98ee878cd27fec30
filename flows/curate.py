"""The curate flow: raw STARSS-style recordings → clips, Parquet manifests, splits and a report.

discover → inspect (per recording) → plan (per recording) → render (per recording) → verify (per recording, when
the recipe says so) → manifests + splits → report → audit page.
Composition only: the work lives in `tasks/` (I/O) and `curation/` (math and media).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from prefect import flow, get_run_logger

from data_contracts.recipe import load_recipe
from flows.runners import make_task_runner
from tasks.curate_recording import plan_recording_task, render_recording_task
from tasks.audit import audit
from tasks.discover import discover, inspect_recording
from tasks.manifests import prune_stale_outputs, write_manifests
from tasks.report import report
from tasks.verify import recipe_detect, verify_recording


@flow(name="curate", task_runner=make_task_runner())
def curate(
    source_dir: str,
    output_dir: str,
    recipe: str | dict[str, Any] | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> dict[str, str]:
    """Curate SAVGBench clips from `source_dir` (STARSS23 layout) into `output_dir`.

    `recipe` is a YAML path or a mapping (default: the SAVGBench recipe); `overrides` are `key=value` strings
    (values parsed as YAML) or a mapping. Returns the paths of the manifests, split lists and report.
    """
    logger = get_run_logger()
    the_recipe = load_recipe(recipe, overrides)  # refused here, before any work, if invalid
    source_dir, output_dir = str(Path(source_dir).resolve()), str(Path(output_dir).resolve())
    logger.info("recipe %s: %d views, window %d frames, hop %d", the_recipe.recipe_hash,
                len(the_recipe.view_azimuths_deg) * len(the_recipe.view_elevations_deg),
                the_recipe.window_frames, the_recipe.hop_frames)

    if the_recipe.verify:
        recipe_detect(the_recipe)  # weights that cannot be had fail the run now, not after rendering
    accepted, recordings, rejects = discover(source_dir, the_recipe)
    inspections = [inspect_recording.submit(src, split, source_dir, the_recipe) for src, split in accepted]
    rendering = []
    for inspection in inspections:
        loaded, row, reject = inspection.result()
        recordings.append(row)
        if reject is not None:
            rejects.append(reject)
            continue
        plan = plan_recording_task.submit(loaded, the_recipe)
        rendering.append((plan, render_recording_task.submit(loaded, plan, source_dir, output_dir, the_recipe)))

    outputs, detections = [], []
    for plan_future, render_future in rendering:
        plan_future.wait()
        output = render_future.result()
        if the_recipe.verify:  # no task run at all when the stage is off
            output, found, verify_rejects = verify_recording(output, output_dir, the_recipe)
            detections.append(found)
            rejects.extend(verify_rejects)
        rejects.extend(output.rejects)
        if output.failure is not None:
            rejects.append(output.failure)
            recordings = [replace(r, status="rejected", reason=output.failure.reason)
                          if r.recording_id == output.recording_id else r for r in recordings]
        outputs.append(output)
    seconds: dict[str, float] = defaultdict(float)
    for output in outputs:
        for stage, value in output.seconds.items():
            seconds[stage] += value

    paths = write_manifests(output_dir, recordings, outputs, rejects, detections if the_recipe.verify else None)
    clips = pq.read_table(paths["clips"])
    prune_stale_outputs(output_dir, clips.column("clip_id").to_pylist(), [r.recording_id for r in recordings])
    paths["report"] = report(output_dir, recordings, sum(o.n_candidates for o in outputs),
                             sum(o.n_qualifying for o in outputs), clips, rejects, dict(seconds))
    paths["audit"] = audit(output_dir)
    logger.info("curated %d clips (%d rendered now) from %d recordings into %s", clips.num_rows,
                sum(o.n_rendered for o in outputs), len(outputs), output_dir)
    return paths
