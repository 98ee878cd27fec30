"""The shipped presets on the real STARSS22 annotation files: `release` meets the calibration figures of issue #14
where the corpus holds the clips for them, and `exhaustive` keeps exactly the selection rule's clips. Measured with
the benchmark's own evaluation (`benchmarks.bench_selection.evaluate_selection`), so the test and the figures it
prints cannot drift apart."""

import pytest

from benchmarks.bench_selection import ALL, evaluate_selection, read_corpora
from curation.plan import plan_recording
from data_contracts.recipe import Recipe, load_recipe, recipe_names
from tests.helpers import starss22_sample

RELEASE_POLICIES = {"min_view_separation_deg": 50, "min_clip_gap_frames": 25, "max_clips_per_source_hour": 700,
                    "class_balance": {"speech": 2, "instrument": 1}, "fill_max_near_duplicates": 0.9}
SONY, TAU = "dev-train-sony", "dev-train-tau"


@pytest.fixture(scope="module")
def corpora():
    corpora = read_corpora(starss22_sample())
    assert set(corpora) == {SONY, TAU, ALL} and len(corpora[ALL]) == 67
    return corpora


def test_release_is_the_savgbench_rule_with_the_five_policies():
    assert "release" in recipe_names()
    release = load_recipe("release")
    assert release == Recipe(**RELEASE_POLICIES)
    # The hash the file's header gives: a change to the recipe changes it, and calls for the calibration again.
    assert release.recipe_hash == "53f5fa71237cf7a5"


@pytest.mark.parametrize("corpus", [ALL, TAU])
def test_release_meets_the_three_calibration_figures(corpora, corpus):
    evaluation = evaluate_selection(corpora[corpus], load_recipe("release"))
    assert 595 <= evaluation.clips_per_source_hour <= 805 and evaluation.rate_met
    # Neither corpus holds 700 / 3 instrument clips per hour after the clip gap (tau about 218, all about 120):
    # every one of them is kept, and speech takes the rest of the budget.
    assert not evaluation.enough_instrument
    assert evaluation.instrument_kept == evaluation.instrument_candidates > 300 and evaluation.balance_met
    assert evaluation.mean_near_duplicates <= 1.0 and evaluation.near_duplicates_met
    assert evaluation.met
    # Both hold more than 700 clips an hour after the clip gap: nothing is filled.
    assert sum(evaluation.funnel["filled"].values()) == 0


def test_release_keeps_two_speech_clips_per_instrument_clip_where_instrument_clips_abound(corpora):
    # The three recordings (12 minutes, all tau) that hold instrument clips, as a corpus of their own: far more than
    # 700 / 3 instrument clips per hour after the clip gap, so the balance, not the candidates, sets the ratio.
    release = load_recipe("release")
    rich = [r for r in corpora[ALL] if evaluate_selection([r], release).instrument_candidates > 0]
    assert len(rich) == 3
    evaluation = evaluate_selection(rich, release)
    assert evaluation.enough_instrument and evaluation.instrument_kept < evaluation.instrument_candidates
    assert 1.7 <= evaluation.speech_per_instrument <= 2.3 and evaluation.met


def test_release_on_the_sony_files_fills_up_what_de_duplication_left_short(corpora):
    # Only about 17 % of the sony folder's windows have a qualifying view: the two de-duplication steps leave about
    # 513 clips an hour, every one of them kept, and the budget is filled up to 700 an hour with clips they removed,
    # each nearly repeating one clip, the mean staying within the recipe's 0.9. Without instrument clips, the balance
    # has nothing to cut.
    evaluation = evaluate_selection(corpora[SONY], load_recipe("release"))
    after_clip_gap, filled = evaluation.funnel["after_clip_gap"], evaluation.funnel["filled"]
    assert 400 <= sum(after_clip_gap.values()) / evaluation.source_hours < 595
    assert sum(filled.values()) > 0
    assert evaluation.funnel["after_budget"] == {target: after_clip_gap[target] + filled[target] for target in filled}
    assert 595 <= evaluation.clips_per_source_hour <= 805 and evaluation.rate_met
    assert evaluation.instrument_candidates == evaluation.instrument_kept == 0 and evaluation.balance_met
    assert evaluation.mean_near_duplicates <= 0.9 and evaluation.met
    # The fill off: the de-duplicated clips alone, short of the rate.
    unfilled = evaluate_selection(corpora[SONY], load_recipe("release", overrides={"fill_max_near_duplicates": None}))
    assert unfilled.n_kept == sum(after_clip_gap.values()) and not unfilled.rate_met


def test_exhaustive_keeps_exactly_the_selection_rules_clips(corpora):
    evaluation = evaluate_selection(corpora[ALL], load_recipe("exhaustive"))
    rule = [clip_id for r in corpora[ALL]
            for clip_id in plan_recording(r.recording_id, r.source_folder, "generation", r.duration_s, r.rows,
                                          Recipe()).clips.clip_id.to_pylist()]
    assert evaluation.kept_clip_ids == tuple(rule) and len(rule) == len(set(rule))
    qualifying = evaluation.funnel["qualifying"]
    assert sum(qualifying.values()) == len(rule)
    for stage in ("after_view_separation", "after_clip_gap", "after_class_balance", "after_budget"):
        assert evaluation.funnel[stage] == qualifying, stage
    # The figures the policies exist for: the rule alone is far from the release.
    assert evaluation.clips_per_source_hour > 20 * 700 and evaluation.mean_near_duplicates > 10
