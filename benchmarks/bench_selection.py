"""Benchmark: the selection funnel and the calibration figures of the `release` and `exhaustive` presets (issue #14),
on real annotation files.

Each subfolder of the annotations folder that holds CSV files is one corpus, and all of them together are one more
(`all`). By default that is the shared STARSS22 sample beside the repository
(`../shared/data/starss22-metadata-sample/{dev-train-sony,dev-train-tau}`), giving the corpora `dev-train-sony`,
`dev-train-tau` and `all`. A recording lasts to its last annotated frame ((frame + 1) × 0.1 s), as with `savgbench plan
--annotations-only` when no media is there, and takes its split from its folder (the recipe's `split_rules`).

Each corpus is planned as the flow plans it, with pure functions only (no Prefect, nothing written): `plan_recording`
per recording (the selection rule, view separation, clip gap), then per split the budget B = rate × the split's
source hours split into classes by `class_budgets`, each (split, target class) keeping its clips with the smallest
`clip_hash`. The funnel, per target class:

    candidates -> qualifying -> after view separation -> after clip gap -> after class balance -> after budget

"after budget" is the selection, the rate and the balance together (`class_budgets`). "after class balance" is, per
class, what `class_balance` alone keeps (`class_budgets` without the rate) where the ratio limits the class, and its
candidates where the budget does (a class short of its share of B keeps all its clips and the rest of B goes to the
others, beyond the ratio). The flow counts both so (`tasks.outcomes.decide_budgets`).

The three calibration figures of a selection, each with met / NOT MET:
- clips per source hour within ±15 % of 700 (the release: 5,031 clips over ≈ 7 h of STARSS23 development recordings
  with video);
- speech : instrument (clips.target_class) in [1.7, 2.3] where the corpus holds at least the instrument share of
  that target (700 / 3 per source hour) among its clips after the clip gap, else every one of those instrument clips
  kept;
- near-duplicates: the mean over kept clips of the other kept clips of the same recording whose windows overlap by
  more than half and whose view centres are closer than half the h_fov (`near_duplicate_counts`), at most 1.0.

It is a measurement, not a test: it exits 0 whether or not the figures are met (2 when the annotations folder is
absent). tests/test_release_preset.py asserts the `release` figures with `evaluate_selection`.

Run it as a module from the repository root: `.venv/bin/python -m benchmarks.bench_selection [--annotations DIR]
[--recipe NAME|PATH ...]` (a few seconds).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.bench_curate import format_table, verdict
from curation.budget import (
    class_budgets,
    clip_budget,
    clip_hashes,
    fill_shares,
    hash_threshold,
    kept_by_threshold,
)
from curation.plan import FUNNEL_STAGES, plan_recording
from curation.selection import near_duplicate_counts
from curation.splits import assign_split
from data_contracts.annotations import AnnotationRow, read_annotations
from data_contracts.classes import SPLITS, TARGET_CLASSES
from data_contracts.errors import ContractError
from data_contracts.recipe import Recipe, load_recipe
from data_contracts.timebase import label_frames_to_manifest_s
from tests.helpers import STARSS22_SAMPLE

MODULE = "benchmarks.bench_selection"
PRESETS = ("release", "exhaustive")
ALL = "all"
# The funnel's stages: the plan's (`FUNNEL_STAGES`), then the budget's.
STAGES = (*FUNNEL_STAGES, "after_class_balance", "filled", "after_budget")

# The calibration targets (issue #14).
TARGET_CLIPS_PER_SOURCE_HOUR = 700.0
RATE_TOLERANCE = 0.15
# Clips per source hour the rate figure accepts: 595 to 805.
RATE_BOUNDS = (TARGET_CLIPS_PER_SOURCE_HOUR * (1 - RATE_TOLERANCE), TARGET_CLIPS_PER_SOURCE_HOUR * (1 + RATE_TOLERANCE))
SPEECH_PER_INSTRUMENT = (1.7, 2.3)
# The instrument's share of the target: speech 2, instrument 1.
TARGET_INSTRUMENT_SHARE = 1 / 3
MAX_MEAN_NEAR_DUPLICATES = 1.0


@dataclass(frozen=True)
class AnnotatedRecording:
    """One annotation file as a plan sees it: its id (the file's stem), source folder, duration and rows."""

    recording_id: str
    source_folder: str
    duration_s: float
    rows: tuple[AnnotationRow, ...]


def read_recordings(folder: Path) -> list[AnnotatedRecording]:
    """The recordings of the CSV files directly in `folder` (sorted by name), each lasting to its last annotated
    frame: (frame + 1) × 0.1 s, as `tasks.discover.inspect_annotations` gives it without media."""
    recordings = []
    for path in sorted(folder.glob("*.csv")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # released STARSS22 files repeat rows verbatim; the repeats are dropped
            rows = tuple(read_annotations(path))
        duration_s = round(label_frames_to_manifest_s(max(row.frame for row in rows) + 1), 6)
        recordings.append(AnnotatedRecording(path.stem, folder.name, duration_s, rows))
    return recordings


def read_corpora(annotations_dir: Path) -> dict[str, list[AnnotatedRecording]]:
    """Corpus name -> recordings: each subfolder of `annotations_dir` holding CSV files (by its name), and `all` of
    them together (only when there are several)."""
    corpora = {folder.name: read_recordings(folder) for folder in sorted(annotations_dir.iterdir())
               if folder.is_dir() and any(folder.glob("*.csv"))}
    if len(corpora) > 1:
        corpora[ALL] = [recording for recordings in corpora.values() for recording in recordings]
    return corpora


@dataclass(frozen=True)
class Evaluation:
    """A recipe's selection on one corpus: the funnel and the three calibration figures.

    `funnel` is stage (`STAGES`) -> target class -> (window, view) pairs, summed over splits.
    `instrument_candidates` are the instrument clips after the clip gap (what the budget chooses from),
    `instrument_kept` those kept. `mean_near_duplicates` is the mean of `near_duplicate_counts` over the kept clips.
    """

    source_hours: float
    n_recordings: int
    funnel: dict[str, dict[str, int]]
    instrument_candidates: int
    instrument_kept: int
    speech_kept: int
    mean_near_duplicates: float
    # The kept clips' ids, split after split, each split's in plan order (recording, window, view).
    kept_clip_ids: tuple[str, ...] = field(repr=False)

    @property
    def n_kept(self) -> int:
        """Clips kept."""
        return len(self.kept_clip_ids)

    @property
    def clips_per_source_hour(self) -> float:
        """Clips kept per source hour."""
        return self.n_kept / self.source_hours if self.source_hours else 0.0

    @property
    def speech_per_instrument(self) -> float | None:
        """Speech clips kept per instrument clip kept (None without instrument clips)."""
        return self.speech_kept / self.instrument_kept if self.instrument_kept else None

    @property
    def enough_instrument(self) -> bool:
        """Whether the instrument clips after the clip gap reach the instrument share of the target."""
        return self.instrument_candidates >= TARGET_INSTRUMENT_SHARE * TARGET_CLIPS_PER_SOURCE_HOUR * self.source_hours

    @property
    def rate_met(self) -> bool:
        """Clips per source hour within ±15 % of 700."""
        return RATE_BOUNDS[0] <= self.clips_per_source_hour <= RATE_BOUNDS[1]

    @property
    def balance_met(self) -> bool:
        """Speech : instrument in [1.7, 2.3] with enough instrument clips, else every instrument clip kept."""
        if not self.enough_instrument:
            return self.instrument_kept == self.instrument_candidates
        ratio = self.speech_per_instrument
        return ratio is not None and SPEECH_PER_INSTRUMENT[0] <= ratio <= SPEECH_PER_INSTRUMENT[1]

    @property
    def near_duplicates_met(self) -> bool:
        """Mean near-duplicates per kept clip at most 1.0."""
        return self.mean_near_duplicates <= MAX_MEAN_NEAR_DUPLICATES

    @property
    def met(self) -> bool:
        """All three figures met."""
        return self.rate_met and self.balance_met and self.near_duplicates_met


def evaluate_selection(recordings: Sequence[AnnotatedRecording], recipe: Recipe) -> Evaluation:
    """Plan these recordings with `recipe` as the flow does (see the module's docstring) and measure the funnel and
    the calibration figures. Recordings whose folder matches no split are left out."""
    rules = recipe.split_rules_dict()
    by_split: dict[str, list[AnnotatedRecording]] = {}
    for recording in recordings:
        split = assign_split(recording.source_folder, rules)
        if split is not None:
            by_split.setdefault(split, []).append(recording)
    funnel = {stage: dict.fromkeys(TARGET_CLASSES, 0) for stage in STAGES}
    instrument_candidates = 0
    kept_parts: list[dict[str, np.ndarray]] = []
    for split in [split for split in SPLITS if split in by_split]:
        plans = [plan_recording(r.recording_id, r.source_folder, split, r.duration_s, r.rows, recipe)
                 for r in by_split[split]]
        # With fill_max_near_duplicates, each plan's clips after the clip gap and those that may fill the budget.
        pools = [plan.clips if plan.fill is None else plan.fill.clips for plan in plans]
        is_fill = np.concatenate([np.zeros(len(plan.clips), dtype=bool) if plan.fill is None else plan.fill.is_fill
                                  for plan in plans] or [np.zeros(0, dtype=bool)])
        clips = {name: np.concatenate([pool.arrays[name] for pool in pools])
                 for name in ("start_frame", "view_azimuth_deg", "view_elevation_deg", "target_class")}
        clips["target_class"] = clips["target_class"].astype(str)
        clips["recording_id"] = np.concatenate([np.full(len(pool), plan.recording_id, dtype=object)
                                                for plan, pool in zip(plans, pools)])
        clips["clip_id"] = np.array([clip_id for pool in pools for clip_id in pool.clip_id.to_pylist()],
                                    dtype=object)
        candidates = {target: int(((clips["target_class"] == target) & ~is_fill).sum()) for target in TARGET_CLASSES}
        source_hours = math.fsum(r.duration_s for r in by_split[split]) / 3600  # exact, as the flow sums them
        stages = {stage: {target: sum(plan.class_counts[stage][target] for plan in plans) for target in TARGET_CLASSES}
                  for stage in FUNNEL_STAGES}
        stages.update(_budget_stages(candidates, source_hours, recipe))
        filled = _filled(clips["target_class"][is_fill], sum(stages["after_budget"].values()),
                         sum(plan.fill.near_duplicates for plan in plans if plan.fill is not None), source_hours,
                         recipe)
        stages["filled"] = filled
        stages["after_budget"] = {target: stages["after_budget"][target] + filled[target] for target in TARGET_CLASSES}
        for stage, by_class in stages.items():
            for target, count in by_class.items():
                funnel[stage][target] += count
        instrument_candidates += candidates["instrument"]
        kept = np.zeros(len(clips["clip_id"]), dtype=bool)
        hashes = clip_hashes(clips["clip_id"])
        for target in TARGET_CLASSES:
            for fill, budget in ((False, stages["after_budget"][target] - filled[target]), (True, filled[target])):
                chosen = (clips["target_class"] == target) & (is_fill == fill)
                kept[chosen] = kept_by_threshold(hashes[chosen], hash_threshold(hashes[chosen], budget))
        kept_parts.append({name: values[kept] for name, values in clips.items()})
    kept_clips = {name: np.concatenate([part[name] for part in kept_parts]) if kept_parts else np.zeros(0, object)
                  for name in ("clip_id", "recording_id", "start_frame", "view_azimuth_deg", "view_elevation_deg",
                               "target_class")}
    near = near_duplicate_counts(kept_clips["recording_id"], kept_clips["start_frame"],
                                 kept_clips["view_azimuth_deg"], kept_clips["view_elevation_deg"],
                                 recipe.window_frames, recipe.h_fov_deg)
    kept_class = kept_clips["target_class"].astype(str)
    return Evaluation(
        source_hours=math.fsum(r.duration_s for split in by_split.values() for r in split) / 3600,
        n_recordings=sum(len(split) for split in by_split.values()),
        funnel=funnel,
        instrument_candidates=instrument_candidates,
        instrument_kept=int((kept_class == "instrument").sum()),
        speech_kept=int((kept_class == "speech").sum()),
        mean_near_duplicates=float(near.mean()) if near.size else 0.0,
        kept_clip_ids=tuple(kept_clips["clip_id"].tolist()),
    )


def _budget_stages(candidates: Mapping[str, int], source_hours: float, recipe: Recipe) -> dict[str, dict[str, int]]:
    """One split's clips per target class after the class balance and after the budget, as the flow counts them
    (`tasks.outcomes.decide_budgets`): after the budget, `class_budgets` with the rate and the balance; after the
    class balance, `class_budgets` with the balance alone where that is at least what the class finally keeps, else
    the class's candidates (the budget, not the ratio, limits that class); without a balance, the candidates."""
    balance = recipe.class_balance_dict()
    budgeted = class_budgets(candidates, source_hours, recipe.max_clips_per_source_hour, balance)
    kept = {target: budgeted.get(target, 0) for target in TARGET_CLASSES}
    balanced = dict(candidates)
    if balance is not None:
        alone = class_budgets(candidates, source_hours, None, balance)
        balanced = {target: alone.get(target, 0) if alone.get(target, 0) >= kept[target] else candidates[target]
                    for target in TARGET_CLASSES}
    return {"after_class_balance": {target: balanced.get(target, 0) for target in TARGET_CLASSES},
            "after_budget": kept}


def _filled(fill_targets: np.ndarray, n_kept: int, near_duplicates: int, source_hours: float,
            recipe: Recipe) -> dict[str, int]:
    """One split's fill clips per target class, as the flow decides them (`tasks.outcomes.decide_budgets`): none
    unless the clips kept fall short of B, then as many as `fill_limit` allows, shared by `fill_budgets`."""
    if recipe.fill_max_near_duplicates is None:
        return dict.fromkeys(TARGET_CLASSES, 0)
    fill_candidates = {target: int((fill_targets == target).sum()) for target in TARGET_CLASSES}
    return fill_shares(fill_candidates, n_kept, near_duplicates,
                       clip_budget(source_hours, recipe.max_clips_per_source_hour), recipe.fill_max_near_duplicates,
                       recipe.class_balance_dict())


def funnel_table(evaluation: Evaluation) -> str:
    """The funnel as a table: per stage, (window, view) pairs (a pair kept is a clip) in total, per target class
    and per source hour."""
    rows = []
    for stage in STAGES:
        by_class = evaluation.funnel[stage]
        total = sum(by_class.values())
        per_hour = f"{total / evaluation.source_hours:,.0f}" if evaluation.source_hours else "-"
        rows.append((stage.replace("_", " "), f"{total:,}", *(f"{by_class[t]:,}" for t in TARGET_CLASSES), per_hour))
    return format_table(rows, ("stage", "pairs", *TARGET_CLASSES, "per source hour"),
                        right_aligned=tuple(range(1, len(TARGET_CLASSES) + 3)))


def figure_rows(evaluation: Evaluation) -> list[tuple[str, str, str, str]]:
    """The three calibration figures as (figure, value, goal, status) rows."""
    low, high = RATE_BOUNDS
    ratio = evaluation.speech_per_instrument
    share_per_hour = TARGET_INSTRUMENT_SHARE * TARGET_CLIPS_PER_SOURCE_HOUR
    instrument_per_hour = evaluation.instrument_candidates / evaluation.source_hours if evaluation.source_hours else 0.0
    if evaluation.enough_instrument:
        balance_goal = (f"{SPEECH_PER_INSTRUMENT[0]}-{SPEECH_PER_INSTRUMENT[1]} ({instrument_per_hour:,.0f} "
                        f"instrument/h after the clip gap >= {share_per_hour:.0f})")
    else:
        balance_goal = (f"every instrument clip kept ({evaluation.instrument_candidates:,} after the clip gap, "
                        f"{instrument_per_hour:,.0f}/h < {share_per_hour:.0f})")
    rate_goal = f"{low:.0f}-{high:.0f}"
    after_clip_gap = sum(evaluation.funnel["after_clip_gap"].values())
    if evaluation.n_kept == after_clip_gap and evaluation.clips_per_source_hour < low:
        rate_goal += " (every clip after the clip gap kept: the corpus holds no more)"
    return [
        ("clips per source hour", f"{evaluation.clips_per_source_hour:,.0f}", rate_goal, verdict(evaluation.rate_met)),
        ("speech : instrument", "-" if ratio is None else f"{ratio:.2f}", balance_goal,
         verdict(evaluation.balance_met)),
        ("near-duplicates per kept clip", f"{evaluation.mean_near_duplicates:.3f}",
         f"<= {MAX_MEAN_NEAR_DUPLICATES}", verdict(evaluation.near_duplicates_met)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=Path, default=STARSS22_SAMPLE,
                        help="folder whose subfolders hold annotation CSVs, one corpus each (default: the shared "
                             "STARSS22 sample beside the repository); e.g. a STARSS23 download's metadata_dev")
    parser.add_argument("--recipe", action="append", default=None, metavar="NAME|PATH",
                        help=f"a recipe to measure, by name or path (repeatable; default: {', '.join(PRESETS)})")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if not args.annotations.is_dir():
        print(f"{MODULE}: {args.annotations}: no annotations folder (the shared STARSS22 sample sits beside the "
              "repository, in ../shared/data/; or give --annotations DIR)", file=sys.stderr)
        return 2
    try:
        recipes = {name: load_recipe(name) for name in args.recipe or PRESETS}
    except ContractError as exc:
        print(f"{MODULE}: {exc}", file=sys.stderr)
        return 2
    corpora = read_corpora(args.annotations)
    if not corpora:
        print(f"{MODULE}: {args.annotations}: no subfolder holds annotation CSVs", file=sys.stderr)
        return 2
    print("Selection funnel and calibration figures (issue #14)")
    print(f"command: {' '.join(['python', '-m', MODULE, *argv])}")
    print(f"annotations: {args.annotations} (a recording lasts to its last annotated frame + 1)")
    summary = []
    for name, recipe in recipes.items():
        for corpus, recordings in corpora.items():
            started = time.perf_counter()
            evaluation = evaluate_selection(recordings, recipe)
            seconds = time.perf_counter() - started
            print(f"\n== recipe {name} ({recipe.recipe_hash}), corpus {corpus}: {evaluation.n_recordings} recordings, "
                  f"{evaluation.source_hours:.2f} source hours, {evaluation.n_kept:,} clips kept ({seconds:.1f} s)")
            print(funnel_table(evaluation))
            print()
            rows = figure_rows(evaluation)
            print(format_table(rows))
            summary += [(name, corpus, *row) for row in rows]
    print("\n== summary")
    print(format_table(summary, ("recipe", "corpus", "figure", "value", "goal", "status"), right_aligned=(3,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
