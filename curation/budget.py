"""The clip budget and the class balance: how many clips of each target class a split keeps, and which ones.

Per split, `max_clips_per_source_hour` × the split's accepted source hours gives a budget B, and `class_balance`
splits it into shares per target class (`class_budgets`). Which clips fill a class's budget follows a hash of their
clip ids (`clip_hash`), never run order or wall-clock: the budget of a (split, class) is met by the clips with the
smallest hashes, and the largest hash kept is a threshold (`hash_threshold`) that each recording applies to its own
clips (`kept_by_threshold`), so a recording's selection needs the threshold, not the other recordings' clips.

A split whose de-duplicated clips fall short of B may be filled up (`fill_max_near_duplicates`) from clips the
de-duplication removed, each nearly repeating at most one clip: `fill_limit` says how many keep the split's mean
near-duplicates per clip within the recipe's limit, `fill_budgets` shares them among the classes, and the fill
clips of a (split, class) are chosen by hash thresholds too.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from fractions import Fraction

import numpy as np

__all__ = [
    "KEEP_ALL",
    "KEEP_NONE",
    "class_budgets",
    "clip_budget",
    "clip_hash",
    "fill_budgets",
    "fill_limit",
    "fill_shares",
    "clip_hashes",
    "hash_threshold",
    "keep_by_hash",
    "kept_by_threshold",
]

# Thresholds that keep every clip and no clip (hashes are in [0, 2**64)).
KEEP_ALL = 2**64 - 1
KEEP_NONE = -1


def clip_hash(clip_id: str) -> int:
    """A clip id's place in the subsampling order: the 8-byte blake2b digest (digest_size=8) of its UTF-8 bytes,
    read as a big-endian unsigned integer; the same on every machine and in every Python run."""
    return int.from_bytes(hashlib.blake2b(clip_id.encode("utf-8"), digest_size=8).digest(), "big")


def clip_hashes(clip_ids: Iterable[str]) -> np.ndarray:
    """`clip_hash` of each clip id, as uint64 (clip_ids: strings, or a pyarrow string array)."""
    if hasattr(clip_ids, "to_pylist"):
        clip_ids = clip_ids.to_pylist()
    return np.fromiter((clip_hash(clip_id) for clip_id in clip_ids), dtype=np.uint64)


def class_budgets(candidates_per_class: Mapping[str, int], source_hours: float,
                  max_clips_per_source_hour: float | None, class_balance: Mapping[str, float] | None
                  ) -> dict[str, int]:
    """How many clips of each target class one split keeps, from its candidates per class.

    - Neither policy: every candidate.
    - Budget alone: B = round(max_clips_per_source_hour × source_hours) clips (halves up), every class subsampled by
      the same fraction (B / candidates, when there are more candidates than B).
    - Budget and class_balance: B split into shares by the weights; a class with fewer candidates than its share
      keeps all of them and the rest of B is split among the other classes by their weights, repeated until no
      share exceeds its class's candidates.
    - class_balance alone: the classes are cut down to the weights' ratio relative to the scarcest class (the one
      with the fewest candidates per unit of weight), which keeps all of its candidates; classes with no candidates
      are left out of the ratio.

    Shares are exact fractions, made whole by the largest remainder (ties: class name order), so with a budget the
    budgets sum to min(B, candidates). A budget never exceeds its class's candidates. class_balance must weigh every
    class of candidates_per_class (positive weights); a class it weighs without candidates counts zero.
    """
    candidates = {target: int(count) for target, count in candidates_per_class.items()}
    for target, count in candidates.items():
        if count < 0:
            raise ValueError(f"class budgets: {target}={count} candidates: must be >= 0")
    if class_balance is not None:
        weights = {target: Fraction(weight) for target, weight in class_balance.items()}
        for target, weight in weights.items():
            if weight <= 0:
                raise ValueError(f"class budgets: class_balance {target}={class_balance[target]!r}: must be > 0")
        unweighted = sorted(set(candidates) - set(weights))
        if unweighted:
            raise ValueError(f"class budgets: class {unweighted[0]!r} has candidates but no class_balance weight")
        candidates = {target: candidates.get(target, 0) for target in sorted(set(candidates) | set(weights))}
    if max_clips_per_source_hour is None:
        if class_balance is None:
            return dict(candidates)
        return _balanced(candidates, weights)
    budget = clip_budget(source_hours, max_clips_per_source_hour)
    if class_balance is None:
        # Weights proportional to the candidates: every class gets the same fraction.
        weights = {target: Fraction(count) for target, count in candidates.items()}
    return _water_filled(candidates, weights, budget)


def clip_budget(source_hours: float, max_clips_per_source_hour: float) -> int:
    """A split's budget B: round(max_clips_per_source_hour × source_hours) clips, halves up, computed exactly."""
    if not (math.isfinite(source_hours) and source_hours >= 0):
        raise ValueError(f"class budgets: source_hours={source_hours!r}: must be a finite number >= 0")
    if not (math.isfinite(max_clips_per_source_hour) and max_clips_per_source_hour > 0):
        raise ValueError(f"class budgets: max_clips_per_source_hour={max_clips_per_source_hour!r}: must be > 0")
    return math.floor(Fraction(max_clips_per_source_hour) * Fraction(source_hours) + Fraction(1, 2))


def fill_shares(fill_candidates_per_class: Mapping[str, int], n_kept: int, near_duplicates: int, budget: int,
                max_mean_near_duplicates: float, class_balance: Mapping[str, float] | None) -> dict[str, int]:
    """How many fill clips each target class of a split takes: none unless its `n_kept` clips (every clip left
    after the clip gap, holding `near_duplicates` near-repeats in all) fall short of its `budget` B; then the
    shortfall, at most `fill_limit`, shared by `fill_budgets` among the classes' fill candidates."""
    n_fill = min(max(0, budget - n_kept), fill_limit(n_kept, near_duplicates, max_mean_near_duplicates))
    return fill_budgets(fill_candidates_per_class, n_fill, class_balance)


def fill_limit(n_kept: int, near_duplicates: int, max_mean_near_duplicates: float) -> int:
    """How many fill clips a split may add to its `n_kept` clips, which hold `near_duplicates` near-repeats in all
    (the sum of `curation.selection.near_duplicate_counts`), so that the mean stays at most
    `max_mean_near_duplicates` (m, in [0, 2)). A fill clip nearly repeats at most one clip, so a clips add at most
    2a to the sum (both clips of a pair count it): the largest a with near_duplicates + 2a <= m (n_kept + a). m is
    read as the decimal it is written as (0.9 is 9/10), so the bound is exact."""
    if not 0 <= max_mean_near_duplicates < 2:
        raise ValueError(f"fill limit: max_mean_near_duplicates={max_mean_near_duplicates!r}: must be in [0, 2)")
    if n_kept < 0 or near_duplicates < 0:
        raise ValueError(f"fill limit: n_kept={n_kept}, near_duplicates={near_duplicates}: must be >= 0")
    limit = Fraction(str(max_mean_near_duplicates))
    return max(0, math.floor((limit * n_kept - near_duplicates) / (2 - limit)))


def fill_budgets(fill_candidates_per_class: Mapping[str, int], n_fill: int,
                 class_balance: Mapping[str, float] | None) -> dict[str, int]:
    """How many of `n_fill` fill clips each target class takes from its fill candidates: shared by the
    class_balance weights as `class_budgets` shares a budget (a class short of its share takes all its candidates
    and the others the rest), or in proportion to the candidates without a balance. The result sums to
    min(n_fill, candidates)."""
    if n_fill < 0:
        raise ValueError(f"fill budgets: n_fill={n_fill}: must be >= 0")
    candidates = {target: int(count) for target, count in fill_candidates_per_class.items()}
    if any(count < 0 for count in candidates.values()):
        raise ValueError(f"fill budgets: candidates {candidates}: must be >= 0")
    if class_balance is None:
        weights = {target: Fraction(count) for target, count in candidates.items()}
    else:
        weights = {target: Fraction(class_balance[target]) if target in class_balance else Fraction(0)
                   for target in candidates}
        unweighted = sorted(target for target, count in candidates.items() if count and not weights[target])
        if unweighted:
            raise ValueError(f"fill budgets: class {unweighted[0]!r} has candidates but no class_balance weight")
    return _water_filled(candidates, weights, n_fill)


def _balanced(candidates: dict[str, int], weights: dict[str, Fraction]) -> dict[str, int]:
    present = [target for target, count in candidates.items() if count > 0]
    if not present:
        return dict(candidates)
    scarcest = min(present, key=lambda target: (Fraction(candidates[target]) / weights[target], target))
    per_weight = Fraction(candidates[scarcest]) / weights[scarcest]
    return {target: min(count, math.floor(weights[target] * per_weight)) for target, count in candidates.items()}


def _water_filled(candidates: dict[str, int], weights: dict[str, Fraction], budget: int) -> dict[str, int]:
    # A class without weight has no candidates (weights are positive, or the candidates themselves): it keeps none.
    result = {target: 0 for target in candidates if weights[target] == 0}
    open_classes = sorted(target for target in candidates if weights[target] > 0)
    remaining = Fraction(budget)
    shares: dict[str, Fraction] = {}
    while open_classes:
        total_weight = sum(weights[target] for target in open_classes)
        shares = {target: remaining * weights[target] / total_weight for target in open_classes}
        short = [target for target in open_classes if candidates[target] <= shares[target]]
        if not short:
            break
        for target in short:
            result[target] = candidates[target]
            remaining -= candidates[target]
        open_classes = [target for target in open_classes if target not in short]
    if open_classes:
        # The open classes' shares sum to `remaining`, a whole number, and each is below its class's candidates,
        # so adding one to a share with a fractional part stays within them.
        whole = {target: math.floor(shares[target]) for target in open_classes}
        by_remainder = sorted(open_classes, key=lambda target: (whole[target] - shares[target], target))
        for target in by_remainder[:int(remaining) - sum(whole.values())]:
            whole[target] += 1
        result.update(whole)
    return {target: result[target] for target in sorted(result)}


def hash_threshold(hashes: np.ndarray, budget: int) -> int:
    """The threshold that keeps `budget` of these clip hashes (those <= it): the budget-th smallest hash;
    `KEEP_ALL` when the budget covers them all, `KEEP_NONE` for a budget of 0. Exactly `budget` are kept when the
    hashes are distinct. `hashes` are all the candidate hashes of one (split, target class)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if budget < 0:
        raise ValueError(f"hash threshold: budget={budget}: must be >= 0")
    if budget >= hashes.size:
        return KEEP_ALL
    if budget == 0:
        return KEEP_NONE
    return int(np.partition(hashes, budget - 1)[budget - 1])


def kept_by_threshold(hashes: np.ndarray, threshold: int) -> np.ndarray:
    """Per clip hash, whether the threshold keeps it (hash <= threshold)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if threshold < 0:
        return np.zeros(hashes.shape, dtype=bool)
    return hashes <= np.uint64(threshold)


def keep_by_hash(clip_ids: Iterable[str], budget: int) -> np.ndarray:
    """Which of these clips a budget keeps: the `budget` with the smallest `clip_hash` (a mask, in input order)."""
    hashes = clip_hashes(clip_ids)
    return kept_by_threshold(hashes, hash_threshold(hashes, budget))
