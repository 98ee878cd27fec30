"""The clip budget and class balance (`curation.budget`): budgets per target class by property, and the hash order
that picks which clips fill them."""

import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.budget import (
    KEEP_ALL,
    KEEP_NONE,
    class_budgets,
    clip_hash,
    clip_hashes,
    fill_budgets,
    fill_limit,
    fill_shares,
    hash_threshold,
    keep_by_hash,
    kept_by_threshold,
)
from tests.helpers import PROJECT_ROOT

CLASSES = ("speech", "instrument", "other")
BALANCE = {"speech": 2, "instrument": 1}

candidates_strategy = st.dictionaries(st.sampled_from(CLASSES), st.integers(0, 5000), min_size=1, max_size=3)
weights_strategy = st.floats(0.1, 10.0).map(lambda weight: round(weight, 2))


def budget_of(rate: float, hours: float) -> int:
    return math.floor(Fraction(rate) * Fraction(hours) + Fraction(1, 2))


def test_class_budgets_of_the_release_example():
    # 4 source hours at 700 clips an hour: B = 2800, shared 2 : 1.
    rich = class_budgets({"speech": 5000, "instrument": 3000}, 4.0, 700, {"speech": 2, "instrument": 1})
    assert rich == {"instrument": 933, "speech": 1867}
    # Too few instrument clips for their third: all of them, and the rest of B to speech.
    poor = class_budgets({"speech": 5000, "instrument": 300}, 4.0, 700, {"speech": 2, "instrument": 1})
    assert poor == {"instrument": 300, "speech": 2500}
    # Budget alone: the same fraction of each class (2800 / 8000 = 0.35).
    assert class_budgets({"speech": 5000, "instrument": 3000}, 4.0, 700, None) == {"instrument": 1050,
                                                                                   "speech": 1750}
    # Balance alone: speech cut down to twice the instrument clips; no instrument clips leave speech alone.
    assert class_budgets({"speech": 5000, "instrument": 300}, 4.0, None, {"speech": 2, "instrument": 1}) == {
        "instrument": 300, "speech": 600}
    assert class_budgets({"speech": 5000, "instrument": 0}, 4.0, None, {"speech": 2, "instrument": 1}) == {
        "instrument": 0, "speech": 5000}
    # Neither: everything; a budget above the candidates: everything too.
    assert class_budgets({"speech": 5000, "instrument": 300}, 4.0, None, None) == {"speech": 5000, "instrument": 300}
    assert class_budgets({"speech": 50, "instrument": 3}, 4.0, 700, {"speech": 2, "instrument": 1}) == {
        "instrument": 3, "speech": 50}
    # A weighed class without candidates counts zero.
    assert class_budgets({"speech": 5000}, 1.0, 700, {"speech": 2, "instrument": 1}) == {"instrument": 0,
                                                                                       "speech": 700}


@pytest.mark.parametrize(("arguments", "message"), [
    (({"speech": -1}, 1.0, 700, None), "class budgets: speech=-1 candidates: must be >= 0"),
    (({"speech": 10, "instrument": 1}, 1.0, 700, {"speech": 1}), "class 'instrument' has candidates but no"),
    (({"speech": 10}, 1.0, 700, {"speech": 0}), "class budgets: class_balance speech=0: must be > 0"),
    (({"speech": 10}, -1.0, 700, None), "class budgets: source_hours=-1.0: must be a finite number >= 0"),
    (({"speech": 10}, 1.0, 0, None), "class budgets: max_clips_per_source_hour=0: must be > 0"),
])
def test_class_budgets_refuse_bad_inputs_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        class_budgets(*arguments)


@settings(max_examples=300, deadline=None)
@given(candidates_strategy, st.floats(0.0, 20.0), st.one_of(st.none(), st.floats(1.0, 3000.0)),
       st.one_of(st.none(), st.lists(weights_strategy, min_size=3, max_size=3)), st.randoms())
def test_class_budgets_properties(candidates, hours, rate, weight_list, random):
    balance = None if weight_list is None else dict(zip(CLASSES, weight_list))
    budgets = class_budgets(candidates, hours, rate, balance)
    classes = set(candidates) | (set(balance) if balance else set())
    assert set(budgets) == classes
    counts = {target: candidates.get(target, 0) for target in classes}
    for target in classes:
        assert 0 <= budgets[target] <= counts[target]
    total = sum(counts.values())
    # Determinism, and independence from the order the classes come in.
    shuffled = list(candidates.items())
    random.shuffle(shuffled)
    shuffled_balance = None if balance is None else dict(random.sample(list(balance.items()), len(balance)))
    assert class_budgets(dict(shuffled), hours, rate, shuffled_balance) == budgets
    if rate is None and balance is None:
        assert budgets == counts
        return
    if rate is None:
        # Balance alone: the scarcest class (fewest candidates per weight) keeps all; the others hold the ratio.
        present = [target for target in classes if counts[target] > 0]
        if not present:
            return
        level = min(Fraction(counts[target]) / Fraction(balance[target]) for target in present)
        for target in classes:
            assert budgets[target] == min(counts[target], math.floor(Fraction(balance[target]) * level))
        return
    budget = budget_of(rate, hours)
    assert sum(budgets.values()) == min(budget, total)
    weights = {target: Fraction(balance[target]) if balance else Fraction(counts[target]) for target in classes}
    total_weight = sum(weights.values())
    if total_weight == 0 or budget >= total:
        return
    # A water level L: a subsampled class holds L × its weight within one clip, a class kept whole has at most
    # that (within one clip), so any two classes compare as follows.
    subsampled = [target for target in classes if budgets[target] < counts[target]]
    assert subsampled
    for target in classes:
        for other in subsampled:
            if target in subsampled:
                assert (budgets[target] + 1) / weights[target] > (budgets[other] - 1) / weights[other]
            elif weights[target] > 0:
                assert counts[target] / weights[target] < (budgets[other] + 1) / weights[other] + 1 / weights[target]
    # When every class has enough candidates for its share, the shares are the weights' ratio (within one clip).
    if all(counts[target] >= budget * weights[target] / total_weight for target in classes):
        for target in classes:
            assert abs(budgets[target] - budget * weights[target] / total_weight) < 1


def test_clip_hash_is_a_fixed_64_bit_number():
    assert clip_hash("fold3_room21_mix001_f00150_az+010_el+00") == 11402461189420457869
    ids = [f"fold3_room21_mix001_f{5 * k:05d}_az+010_el+00" for k in range(1000)]
    hashes = clip_hashes(ids)
    assert hashes.dtype == np.uint64 and len(set(hashes.tolist())) == 1000
    assert hashes.tolist() == [clip_hash(clip_id) for clip_id in ids]
    import pyarrow as pa

    np.testing.assert_array_equal(clip_hashes(pa.array(ids)), hashes)
    assert clip_hashes([]).shape == (0,)


def test_clip_hash_is_the_same_in_another_interpreter():
    code = "from curation.budget import clip_hash; print(clip_hash('fold3_room21_mix001_f00150_az+010_el+00'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONHASHSEED": "4321"}, check=True)
    assert int(result.stdout) == clip_hash("fold3_room21_mix001_f00150_az+010_el+00")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=0, max_size=300, unique=True), st.integers(0, 350), st.randoms())
def test_the_threshold_keeps_exactly_the_budget_whatever_the_order_and_recording(windows, budget, random):
    ids = [f"rec{window % 7}_f{window:05d}_az+000_el+00" for window in windows]
    hashes = clip_hashes(ids)
    threshold = hash_threshold(hashes, budget)
    kept = kept_by_threshold(hashes, threshold)
    assert kept.sum() == min(budget, len(ids))
    # The kept clips are those of smallest hash.
    if 0 < kept.sum() < len(ids):
        assert hashes[kept].max() < hashes[~kept].min()
    # Any order of the candidates gives the same threshold and the same clips.
    order = list(range(len(ids)))
    random.shuffle(order)
    assert hash_threshold(hashes[order], budget) == threshold
    shuffled = np.array([ids[i] for i in order], dtype=object)
    assert set(shuffled[keep_by_hash(shuffled, budget)]) == set(np.array(ids, dtype=object)[kept])
    # Applied recording by recording, the one threshold keeps the same clips.
    for recording in range(7):
        own = [i for i, clip_id in enumerate(ids) if clip_id.startswith(f"rec{recording}_")]
        np.testing.assert_array_equal(kept_by_threshold(clip_hashes([ids[i] for i in own]), threshold), kept[own])


def test_threshold_ends():
    hashes = clip_hashes(["a", "b", "c"])
    assert hash_threshold(hashes, 3) == hash_threshold(hashes, 10) == KEEP_ALL
    assert hash_threshold(hashes, 0) == KEEP_NONE
    assert kept_by_threshold(hashes, KEEP_ALL).all() and not kept_by_threshold(hashes, KEEP_NONE).any()
    assert hash_threshold(hashes, 1) == int(hashes.min())
    with pytest.raises(ValueError, match="budget=-1"):
        hash_threshold(hashes, -1)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 5000), st.data(), st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0, 1.5, 1.99]))
def test_fill_limit_is_the_most_fill_clips_that_keep_the_mean_near_duplicates(n_kept, data, limit):
    near_duplicates = data.draw(st.integers(0, 3 * n_kept))
    n_fill = fill_limit(n_kept, near_duplicates, limit)
    exact = Fraction(str(limit))

    def mean(a: int) -> Fraction:  # each fill clip adding one near-repeating pair: two counts
        return Fraction(near_duplicates + 2 * a, n_kept + a) if n_kept + a else Fraction(0)

    assert n_fill >= 0
    if n_fill:
        assert mean(n_fill) <= exact
    assert mean(n_fill + 1) > exact or (n_fill == 0 and near_duplicates > exact * n_kept)


def test_fill_limit_examples_and_refusals():
    # 513 clips holding 255 near-repeats (0.497 a clip): 187 fill clips keep the mean under 0.9, 188 would not.
    assert fill_limit(513, 255, 0.9) == 187
    assert Fraction(255 + 2 * 187, 513 + 187) <= Fraction(9, 10) < Fraction(255 + 2 * 188, 513 + 188)
    assert fill_limit(100, 90, 0.9) == 0 and fill_limit(100, 95, 0.9) == 0 and fill_limit(0, 0, 0.9) == 0
    assert fill_limit(100, 0, 0.0) == 0
    for limit in (-0.1, 2.0, 3.0):
        with pytest.raises(ValueError, match="max_mean_near_duplicates"):
            fill_limit(10, 0, limit)
    with pytest.raises(ValueError, match="n_kept=-1"):
        fill_limit(-1, 0, 0.9)


@settings(max_examples=200, deadline=None)
@given(candidates_strategy, st.integers(0, 12000), st.one_of(st.none(), st.lists(weights_strategy, min_size=3,
                                                                                    max_size=3)))
def test_fill_budgets_share_the_fill_by_the_weights_within_the_candidates(candidates, n_fill, weight_list):
    balance = None if weight_list is None else dict(zip(CLASSES, weight_list))
    shares = fill_budgets(candidates, n_fill, balance)
    assert set(shares) == set(candidates)
    assert sum(shares.values()) == min(n_fill, sum(candidates.values()))
    assert all(0 <= shares[target] <= candidates[target] for target in candidates)
    if balance is not None:
        # A class below its candidates is never given less per unit of weight than another (up to rounding).
        open_classes = [t for t in candidates if shares[t] < candidates[t]]
        for target in open_classes:
            for other in candidates:
                assert (shares[target] + 1) / balance[target] >= (shares[other] - 1) / balance[other]


def test_fill_budgets_examples():
    # The release's 2 : 1 over 90 fill clips; a class without fill candidates leaves its share to the other.
    assert fill_budgets({"speech": 500, "instrument": 500}, 90, {"speech": 2, "instrument": 1}) == {
        "instrument": 30, "speech": 60}
    assert fill_budgets({"speech": 500, "instrument": 0}, 90, {"speech": 2, "instrument": 1}) == {
        "instrument": 0, "speech": 90}
    assert fill_budgets({"speech": 10, "instrument": 20}, 90, None) == {"instrument": 20, "speech": 10}
    with pytest.raises(ValueError, match="no class_balance weight"):
        fill_budgets({"speech": 5, "other": 3}, 4, {"speech": 1})
    with pytest.raises(ValueError, match="n_fill=-1"):
        fill_budgets({"speech": 5}, -1, None)


def test_fill_shares_fill_only_a_split_short_of_its_budget():
    candidates = {"speech": 500, "instrument": 500}
    # 800 kept of B = 700: nothing to fill; 600 kept with no near-repeats: the 100 short, shared 2 : 1.
    assert fill_shares(candidates, 800, 0, 700, 0.9, BALANCE) == {"instrument": 0, "speech": 0}
    assert fill_shares(candidates, 600, 0, 700, 0.9, BALANCE) == {"instrument": 33, "speech": 67}
    # 600 kept holding 500 near-repeats: fill_limit(600, 500, 0.9) = 36 of the 100 short.
    assert sum(fill_shares(candidates, 600, 500, 700, 0.9, BALANCE).values()) == fill_limit(600, 500, 0.9) == 36
