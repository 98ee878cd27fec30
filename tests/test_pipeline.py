"""The curate flow's body (`flows.pipeline.run_curation`) and its bookkeeping (`tasks.outcomes`): the Prefect flow
and the plain task caller (task functions called directly, a thread pool for submits) write the same files; the
recordings' summaries add up to the run's recordings statuses, stage seconds and pair counts; planning only writes
the manifests a render would, without media."""

import dataclasses
import logging
import re
from fractions import Fraction

import numpy as np
import pytest

from curation.budget import KEEP_ALL
from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from data_contracts.manifests import RecordingRow, RejectRow
from data_contracts.recipe import load_recipe
from tasks._run_context import in_prefect_run, run_logger
from tasks.curate_recording import RecordingSummary
from tasks.outcomes import (
    RECORDING_FUNNEL_STAGES,
    PairCounts,
    count_pairs,
    decide_budgets,
    mark_render_failure,
    sum_funnel,
    sum_stage_seconds,
)
from tests.helpers import output_files

# Short windows so that 4 s recordings hold several clips.
RECIPE = ["view_azimuths_deg=[0, 60, 120, 180, 240, 300]", "window_frames=20", "hop_frames=10",
          "min_onscreen_frames=5"]
MANIFESTS = ("recordings", "clips", "events", "rejects")


def recording_row(recording_id: str) -> RecordingRow:
    return RecordingRow(recording_id, "dev-synth", "development", f"foa_dev/{recording_id}.wav",
                        f"video_dev/{recording_id}.mp4", f"metadata_dev/{recording_id}.csv", 4.0, "ok", None, None,
                        None, None, "hash")


def output(recording_id: str, *, n_candidates=10, n_qualifying=3, seconds=None, failure=None, funnel=None):
    return RecordingSummary(recording_id, n_candidates, n_qualifying, 0, 0, 0, seconds or {}, 0, failure,
                            funnel=funnel or {})


def reject(recording_id: str, reason: str, clip_id: str | None = None) -> RejectRow:
    return RejectRow("render", recording_id, clip_id, reason, "detail", "hash")


def test_a_render_failure_rejects_only_its_recording_for_its_reason():
    rows = [recording_row("a"), recording_row("b"), recording_row("c")]
    marked = mark_render_failure(rows, output("b", failure=reject("b", "render_failed")))
    assert [(r.recording_id, r.status, r.reason) for r in marked] == [
        ("a", "ok", None), ("b", "rejected", "render_failed"), ("c", "ok", None)]
    assert marked[0] is rows[0] and marked[2] is rows[2]
    unchanged = mark_render_failure(rows, output("b"))
    assert unchanged == rows and unchanged is not rows


def test_stage_seconds_are_summed_in_output_order():
    outputs = [output("a", seconds={"decode": 0.1, "audio": 1.0}), output("b", seconds={"decode": 0.2}),
               output("c", seconds={"decode": 0.3, "encode_cpu": 2.5})]
    seconds = sum_stage_seconds(outputs)
    assert type(seconds) is dict and list(seconds) == ["decode", "audio", "encode_cpu"]
    # Bit for bit the left-to-right sum (0.1 + 0.2 + 0.3 is not 0.6 in floating point).
    assert seconds == {"decode": (0.0 + 0.1) + 0.2 + 0.3, "audio": 1.0, "encode_cpu": 2.5}
    assert sum_stage_seconds([]) == {}


def test_pair_counts_add_over_recordings():
    assert count_pairs([output("a", n_candidates=36, n_qualifying=4), output("b", n_candidates=12, n_qualifying=0)]
                       ) == PairCounts(n_candidates=48, n_qualifying=4)
    assert count_pairs(iter([])) == PairCounts(0, 0)


def test_the_funnel_adds_the_recordings_counts_per_split_and_class():
    def funnel(speech: int, instrument: int) -> dict:
        return {stage: {"speech": speech * (6 - i), "instrument": instrument * (6 - i)}
                for i, stage in enumerate(RECORDING_FUNNEL_STAGES)}

    rows = [dataclasses.replace(recording_row(name), split=split)
            for name, split in (("a", "generation"), ("b", "generation"), ("c", "evaluation"))]
    summed = sum_funnel([output("a", funnel=funnel(1, 2)), output("b", funnel=funnel(10, 0)),
                         output("c", funnel=funnel(3, 5))], rows)
    assert summed["generation"]["speech"] == {"candidates": 66, "qualifying": 55, "after_view_separation": 44,
                                              "after_clip_gap": 33, "after_class_balance": 33, "after_budget": 22,
                                              "rendered": 11}
    assert summed["generation"]["instrument"]["after_budget"] == 4
    assert summed["evaluation"]["instrument"]["candidates"] == 30
    assert sum_funnel([], rows)["evaluation"]["speech"] == dict.fromkeys(summed["evaluation"]["speech"], 0)


def test_the_budget_keeps_the_smallest_hashes_whatever_their_order_and_shows_where_the_ratio_limits():
    hours = [dataclasses.replace(recording_row(name), split="generation", duration_s=1800.0) for name in ("a", "b")]
    recipe = load_recipe(overrides=["max_clips_per_source_hour=2800", "class_balance={speech: 2, instrument: 1}"])
    speech = np.random.default_rng(0).permutation(np.arange(100, 5100, dtype=np.uint64))  # 5000 hashes
    instrument = np.arange(300, dtype=np.uint64)
    budgets = decide_budgets({"generation": {"speech": [speech[:1000], speech[1000:]], "instrument": [instrument]}},
                             hours, recipe)
    generation = budgets["generation"]
    # One hour at 2800 clips an hour; instrument short of its third: all 300 kept, the rest of B to speech.
    assert (generation.source_hours, generation.budget) == (1.0, 2800)
    assert generation.kept == {"speech": 2500, "instrument": 300}
    assert generation.thresholds == {"speech": 100 + 2499, "instrument": KEEP_ALL}
    # The ratio alone would keep 600 speech clips; the budget gives speech more: the budget limits it, not the ratio.
    assert generation.after_class_balance == {"speech": 5000, "instrument": 300}
    # The same hashes in another order (and split otherwise over recordings): the same decision.
    shuffled = decide_budgets({"generation": {"instrument": [instrument[::-1]], "speech": [speech[::-1]]}},
                              hours[::-1], recipe)
    assert shuffled == budgets
    # Enough instrument clips: the ratio limits both classes (2 : 1 of the speech), then the budget.
    rich = decide_budgets({"generation": {"speech": [speech], "instrument": [np.arange(3000, dtype=np.uint64)]}},
                          hours, recipe)["generation"]
    assert rich.kept == {"speech": 1867, "instrument": 933}
    assert rich.after_class_balance == {"speech": 5000, "instrument": 2500}
    # A split without recordings keeps nothing; a rejected recording's hours do not count.
    assert budgets["evaluation"].budget == 0 and budgets["evaluation"].kept == {"speech": 0, "instrument": 0}
    rejected = [hours[0], dataclasses.replace(hours[1], status="rejected", reason="internal_error")]
    assert decide_budgets({}, rejected, recipe)["generation"].budget == 1400


def test_outside_a_run_tasks_log_to_a_standard_logger():
    assert not in_prefect_run()
    logger = run_logger("tasks.example")
    assert isinstance(logger, logging.Logger) and logger.name == "tasks.example"


@pytest.mark.slow
def test_the_flow_and_the_plain_caller_write_the_same_files(tmp_path):
    from flows.curate import curate
    from flows.pipeline import PlainTaskCaller, run_curation
    from flows.runners import make_task_runner

    source = tmp_path / "source"
    write_synthetic_dataset(source, SynthConfig(n_recordings=2, duration_s=4.0, seed=11, width_px=640,
                                                height_px=320, fps=Fraction(20)))
    curate.with_options(task_runner=make_task_runner("threads", workers=2))(str(source), str(tmp_path / "flow"),
                                                                             overrides=RECIPE)
    with PlainTaskCaller(2) as caller:
        run = run_curation(str(source), str(tmp_path / "plain"), load_recipe(overrides=RECIPE), caller)

    flow_out, plain_out = tmp_path / "flow", tmp_path / "plain"
    assert run.n_rendered_recordings == 2 and run.n_clips > 0 and run.n_rendered_clips > 0
    assert run.paths["clips"] == str(plain_out / "manifests" / "clips.parquet")
    for name in MANIFESTS:
        path = f"manifests/{name}.parquet"
        assert (plain_out / path).read_bytes() == (flow_out / path).read_bytes(), name
    files = output_files(flow_out)
    assert files == output_files(plain_out)
    assert sum(str(f).startswith("video_") for f in files) == run.n_clips
    for rel in files:  # manifests, split lists, clip mp4/wav/csv, render ledgers
        assert (plain_out / rel).read_bytes() == (flow_out / rel).read_bytes(), rel
    # The report's funnel is the same too, but for the timing rows.
    funnel = [line for line in (flow_out / "report" / "summary.md").read_text().splitlines()
              if "seconds:" not in line]
    assert funnel == [line for line in (plain_out / "report" / "summary.md").read_text().splitlines()
                      if "seconds:" not in line]


def test_the_body_refuses_an_output_folder_inside_the_source_before_any_task(tmp_path):
    # What a deployment run meets (it does not go through the CLI's own check): refused before discovery, nothing
    # written. An output folder inside the source would have its video_dev/ discovered as sources next time.
    from flows.pipeline import PlainTaskCaller, run_curation

    source = tmp_path / "source"
    (source / "foa_dev").mkdir(parents=True)
    (source / "foa_dev" / "fold1_room1_mix001.wav").write_bytes(b"")
    with PlainTaskCaller(1) as caller:
        with pytest.raises(ValueError, match="^" + re.escape(f"{source / 'out'}: output folder is inside the source folder")):
            run_curation(str(source), str(source / "out"), load_recipe(), caller)
        with pytest.raises(ValueError, match="^" + re.escape(f"{tmp_path / 'nope'}: source folder does not exist")):
            run_curation(str(tmp_path / "nope"), str(tmp_path / "out"), load_recipe(), caller)
    assert not (source / "out").exists() and not (tmp_path / "out").exists()


def test_planning_only_lists_the_clips_a_render_writes_and_touches_no_media(tmp_path):
    import pyarrow.parquet as pq

    from flows.pipeline import PlainTaskCaller, run_curation
    from tasks.parts import PARTS_DIR, load_part_info

    source = tmp_path / "source"
    write_synthetic_dataset(source, SynthConfig(n_recordings=2, duration_s=4.0, seed=11, width_px=320,
                                                height_px=160, fps=Fraction(20)))
    recipe = load_recipe(overrides=RECIPE)
    with PlainTaskCaller(2) as caller:
        rendered = run_curation(str(source), str(tmp_path / "render"), recipe, caller)
        planned = run_curation(str(source), str(tmp_path / "plan"), recipe, caller, render=False)
    plan_out = tmp_path / "plan"
    assert planned.n_clips == rendered.n_clips > 0 and planned.n_rendered_clips == 0
    # Nothing clipped in these recordings: the plan's manifests are the render's, row for row.
    for name in MANIFESTS:
        ours = pq.read_table(plan_out / "manifests" / f"{name}.parquet")
        assert ours.equals(pq.read_table(tmp_path / "render" / "manifests" / f"{name}.parquet")), name
    assert (plan_out / "splits" / "generation.txt").read_text() == \
        (tmp_path / "render" / "splits" / "generation.txt").read_text()
    # No media, no ledger, no audit page; the report's funnel and the parts are there.
    assert sorted(p.name for p in plan_out.iterdir()) == [".savgbench", "manifests", "report", "splits"]
    assert sorted(p.name for p in (plan_out / "report").iterdir()) == ["summary.md"]
    assert "audit" not in planned.paths
    parts = sorted(p.name for p in (plan_out / PARTS_DIR).iterdir())
    assert len(parts) == 2 and not (plan_out / ".savgbench" / "ledger").exists()
    # A planned part is not a rendered one (another key), and a second plan run keeps the parts and the bytes.
    assert load_part_info(plan_out, parts[0]).key != load_part_info(tmp_path / "render", parts[0]).key
    before = {p: p.stat().st_mtime_ns for p in (plan_out / PARTS_DIR).rglob("*")}
    manifests = {name: (plan_out / "manifests" / f"{name}.parquet").read_bytes() for name in MANIFESTS}
    with PlainTaskCaller(2) as caller:
        run_curation(str(source), str(plan_out), recipe, caller, render=False)
    assert {p: p.stat().st_mtime_ns for p in (plan_out / PARTS_DIR).rglob("*")} == before
    assert {name: (plan_out / "manifests" / f"{name}.parquet").read_bytes() for name in MANIFESTS} == manifests
