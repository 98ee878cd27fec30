"""How the recordings' summaries (`tasks.curate_recording.RecordingSummary`) add up to what the run's manifests
and report are written from, and the clip budget of each split (`decide_budgets`), decided from all recordings'
plans before any is rendered.

Plain functions (no Prefect): the curate flow's body (`flows.pipeline.run_curation`) calls them between tasks.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from curation.budget import KEEP_NONE, class_budgets, clip_budget, fill_shares, hash_threshold
from curation.discover import SourceRecording
from curation.plan import FUNNEL_STAGES
from data_contracts.classes import SPLITS, TARGET_CLASSES
from data_contracts.manifests import RecordingRow, RejectRow
from data_contracts.recipe import Recipe

if TYPE_CHECKING:  # tasks.curate_recording imports this module
    from tasks.curate_recording import RecordingSummary

__all__ = ["INTERNAL_ERROR", "RECORDING_FUNNEL_STAGES", "RUN_FUNNEL_STAGES", "PairCounts", "SplitBudget",
           "mark_rejected", "mark_render_failure", "internal_error_reject", "internal_error_row", "relative_detail",
           "sum_stage_seconds", "count_pairs", "budget_applies", "decide_budgets", "fill_threshold_key", "sum_funnel"]

# The reason of a recording whose task raised an exception nobody expected: a bug, or a case no check knows yet.
INTERNAL_ERROR = "internal_error"

# The stages at which a recording's summary counts clips per target class: the plan's (`curation.plan.FUNNEL_STAGES`:
# candidates, qualifying, after view separation, after clip gap), those the budget leaves the recording, and those
# rendered (written, not rejected as clipped; planning only: the planned clips).
RECORDING_FUNNEL_STAGES = (*FUNNEL_STAGES, "after_budget", "rendered")
# The run's funnel per split and target class: the recordings' stages, the class balance's figure (a split's, not a
# recording's: see `SplitBudget`) before the budget, and last the clips the manifests list (after verification).
RUN_FUNNEL_STAGES = (*FUNNEL_STAGES, "after_class_balance", "after_budget", "rendered", "kept")


@dataclass(frozen=True)
class PairCounts:
    """Candidate (window, view) pairs over the run's recordings, and those the selection rule lets qualify."""

    n_candidates: int
    n_qualifying: int


def mark_rejected(recordings: Sequence[RecordingRow], recording_id: str, reason: str) -> list[RecordingRow]:
    """The recordings rows with `recording_id`'s marked rejected for `reason`, the others unchanged. Order is kept."""
    return [replace(r, status="rejected", reason=reason) if r.recording_id == recording_id else r
            for r in recordings]


def mark_render_failure(recordings: Sequence[RecordingRow], summary: RecordingSummary) -> list[RecordingRow]:
    """The recordings rows with the summary's recording marked rejected (for the failure's reason) when rendering
    dropped it; the rows unchanged otherwise. Order is kept."""
    if summary.failure is None:
        return list(recordings)
    return mark_rejected(recordings, summary.recording_id, summary.failure.reason)


def internal_error_reject(stage: str, recording_id: str, exc: BaseException, recipe_hash: str) -> RejectRow:
    """The rejects row of a recording whose `stage` task ("inspect", "plan", "render", "verify") raised `exc`:
    reason `internal_error`, detail "<ExceptionType>: <message>"."""
    return RejectRow(stage, recording_id, None, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", recipe_hash)


def internal_error_row(source: SourceRecording, split: str, recipe_hash: str) -> RecordingRow:
    """The recordings row of a recording whose inspection raised, so that it has no row of its own: what discovery
    knows of it (id, folder, split, file paths), rejected as `internal_error`."""
    return RecordingRow(recording_id=source.recording_id, source_folder=source.source_folder, split=split,
                        audio_path=source.audio_path, video_path=source.video_path, metadata_path=source.metadata_path,
                        duration_s=None, status="rejected", reason=INTERNAL_ERROR, audio_sha256=None,
                        video_sha256=None, metadata_sha256=None, recipe_hash=recipe_hash)


def relative_detail(detail: str, source_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> str:
    """`detail` with the source and output roots left out of the paths it names, so that a rejects table is the same
    wherever the folders are: every `<root>/` prefix removed, for each root as given (made absolute) and resolved
    (symlinks followed). The longest prefix goes first, should one root lie inside the other."""
    prefixes = set()
    for root in (Path(source_dir), Path(output_dir)):
        for spelling in (root.absolute(), root.resolve()):
            if spelling.parent != spelling:  # the filesystem root: every absolute path starts with it
                prefixes.add(f"{spelling}/")
    for prefix in sorted(prefixes, key=len, reverse=True):
        detail = detail.replace(prefix, "")
    return detail


def sum_stage_seconds(summaries: Iterable[RecordingSummary]) -> dict[str, float]:
    """Seconds per render stage summed over the recordings' summaries, added in the order given (float sums depend
    on it)."""
    seconds: dict[str, float] = defaultdict(float)
    for summary in summaries:
        for stage, value in summary.seconds.items():
            seconds[stage] += value
    return dict(seconds)


def count_pairs(summaries: Iterable[RecordingSummary]) -> PairCounts:
    """Candidate and qualifying (window, view) pairs summed over the recordings' summaries."""
    summaries = list(summaries)
    return PairCounts(sum(s.n_candidates for s in summaries), sum(s.n_qualifying for s in summaries))


def budget_applies(recipe: Recipe) -> bool:
    """Whether the recipe sets the clip budget or the class balance: then which clips a recording keeps depends on
    the other recordings of its split, and the flow plans every recording before it renders (or writes) any."""
    return recipe.max_clips_per_source_hour is not None or recipe.class_balance is not None


@dataclass(frozen=True)
class SplitBudget:
    """The clip budget of one split, decided from the plans of all its recordings.

    `source_hours`: the split's accepted source hours (durations of its recordings of status "ok", summed exactly,
    / 3600); `budget`: B = round(max_clips_per_source_hour × source_hours) clips (None without a budget). Per target
    class: `candidates`, the clips left after the clip gap; `kept`, what `class_budgets` gives the class;
    `after_class_balance`, the funnel's step between them: what the ratio alone (`class_budgets` without the
    budget) keeps of the class when that is at least `kept`, else its candidates (with a budget too, a class the
    ratio would cut below what it keeps is given the budget's rest: the budget, not the ratio, limits it; without
    a balance, the candidates); `thresholds`, the `curation.budget.hash_threshold` that keeps `kept`: a clip of the
    split is kept iff its `clip_hash` is <= its class's threshold.

    With `fill_max_near_duplicates`: `fill_candidates`, per class, the clips that may fill the budget; `filled`, how
    many of them fill it (none unless the clips after the clip gap fall short of B; `curation.budget.fill_limit`
    and `fill_budgets`), on top of `kept`; and `thresholds` holds their thresholds too, under
    `fill_threshold_key(class)`. Without it, both are empty.
    """

    source_hours: float
    budget: int | None
    candidates: dict[str, int] = field(hash=False)
    after_class_balance: dict[str, int] = field(hash=False)
    kept: dict[str, int] = field(hash=False)
    thresholds: dict[str, int] = field(hash=False)
    fill_candidates: dict[str, int] = field(default_factory=dict, hash=False)
    filled: dict[str, int] = field(default_factory=dict, hash=False)


def fill_threshold_key(target: str) -> str:
    """The key of a target class's fill threshold in a split's `SplitBudget.thresholds` (beside the class's own)."""
    return f"fill {target}"


def _split_hashes(hashes: Mapping[str, Mapping[str, Sequence[np.ndarray]]], split: str) -> dict[str, np.ndarray]:
    """One split's hashes per target class, the recordings' arrays joined."""
    return {target: np.concatenate([np.asarray(a, dtype=np.uint64) for a in hashes.get(split, {}).get(target, ())]
                                   or [np.zeros(0, dtype=np.uint64)]) for target in TARGET_CLASSES}


def decide_budgets(hashes: Mapping[str, Mapping[str, Sequence[np.ndarray]]], recordings: Sequence[RecordingRow],
                   recipe: Recipe, fill_hashes: Mapping[str, Mapping[str, Sequence[np.ndarray]]] | None = None,
                   near_duplicates: Mapping[str, int] | None = None) -> dict[str, SplitBudget]:
    """Each split's `SplitBudget` from the clip hashes of its recordings' clips after the clip gap (`hashes`: split
    -> target class -> uint64 arrays, one per recording, in any order) and the recordings rows (accepted hours).
    With `fill_max_near_duplicates`, also from the hashes of the clips that may fill the budget (`fill_hashes`, in
    the same form) and the near-repeats among each split's clips after the clip gap (`near_duplicates`: split ->
    the sum over its recordings). The same hashes and rows give the same thresholds whatever order they came in."""
    rate, balance = recipe.max_clips_per_source_hour, recipe.class_balance_dict()
    budgets = {}
    for split in SPLITS:
        durations = [r.duration_s for r in recordings if r.split == split and r.status == "ok"]
        source_hours = math.fsum(durations) / 3600  # fsum: exact, so independent of the recordings' order
        by_class = _split_hashes(hashes, split)
        candidates = {target: int(values.size) for target, values in by_class.items()}
        present = {target: n for target, n in candidates.items() if n}  # class_balance weighs the recipe's classes
        kept = {**dict.fromkeys(TARGET_CLASSES, 0), **class_budgets(present, source_hours, rate, balance)}
        if balance is None:
            after_class_balance = dict(candidates)
        else:
            balanced = {**dict.fromkeys(TARGET_CLASSES, 0), **class_budgets(present, source_hours, None, balance)}
            after_class_balance = {target: balanced[target] if balanced[target] >= kept[target]
                                   else candidates[target] for target in TARGET_CLASSES}
        # B itself: the budget of a single class with more candidates than any budget.
        budget = None if rate is None else clip_budget(source_hours, rate)
        thresholds = {target: hash_threshold(by_class[target], kept[target]) for target in TARGET_CLASSES}
        fill_candidates, filled = {}, {}
        if recipe.fill_max_near_duplicates is not None:
            fill_by_class = _split_hashes(fill_hashes or {}, split)
            fill_candidates = {target: int(values.size) for target, values in fill_by_class.items()}
            shares = fill_shares(fill_candidates, sum(kept.values()), (near_duplicates or {}).get(split, 0), budget,
                                 recipe.fill_max_near_duplicates, balance)
            filled = {target: shares[target] for target in TARGET_CLASSES}
            for target in TARGET_CLASSES:
                thresholds[fill_threshold_key(target)] = (hash_threshold(fill_by_class[target], filled[target])
                                                          if filled[target] else KEEP_NONE)
        budgets[split] = SplitBudget(source_hours, budget, candidates, after_class_balance,
                                     {target: kept[target] for target in TARGET_CLASSES}, thresholds,
                                     fill_candidates, filled)
    return budgets


def sum_funnel(summaries: Iterable[RecordingSummary], recordings: Sequence[RecordingRow],
               budgets: Mapping[str, SplitBudget] | None = None) -> dict[str, dict[str, dict[str, int]]]:
    """The run's funnel: split -> target class -> stage -> clips, for every stage of `RUN_FUNNEL_STAGES` but "kept"
    (the manifests' count, `tasks.report`), summed over the recordings' summaries (each in its recording's split, as
    the recordings rows give it). "after_class_balance" is the budgets' figure; without budgets (neither policy
    set) the count after the clip gap."""
    split_of = {r.recording_id: r.split for r in recordings}
    stages = RUN_FUNNEL_STAGES[:-1]
    funnel = {split: {target: dict.fromkeys(stages, 0) for target in TARGET_CLASSES} for split in SPLITS}
    for summary in summaries:
        by_class = funnel.get(split_of.get(summary.recording_id))
        if by_class is None:
            continue
        for stage in RECORDING_FUNNEL_STAGES:
            for target, count in summary.funnel.get(stage, {}).items():
                by_class[target][stage] += count
    for split, by_class in funnel.items():
        for target, counts in by_class.items():
            counts["after_class_balance"] = (counts["after_clip_gap"] if budgets is None
                                             else budgets[split].after_class_balance[target])
    return funnel
