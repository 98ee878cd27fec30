"""The curate flow's body (`flows.pipeline.run_curation`) and its bookkeeping (`tasks.outcomes`): the Prefect flow
and the plain task caller (task functions called directly, a thread pool for submits) write the same files; the
recordings' summaries add up to the run's recordings statuses, stage seconds and pair counts; planning only writes
the manifests a render would, without media."""

import logging
import re
from fractions import Fraction

import pytest

from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from data_contracts.manifests import RecordingRow, RejectRow
from data_contracts.recipe import load_recipe
from tasks._run_context import in_prefect_run, run_logger
from tasks.curate_recording import RecordingSummary
from tasks.outcomes import PairCounts, count_pairs, mark_render_failure, sum_stage_seconds
from tests.helpers import output_files

# Short windows so that 4 s recordings hold several clips.
RECIPE = ["view_azimuths_deg=[0, 60, 120, 180, 240, 300]", "window_frames=20", "hop_frames=10",
          "min_onscreen_frames=5"]
MANIFESTS = ("recordings", "clips", "events", "rejects")


def recording_row(recording_id: str) -> RecordingRow:
    return RecordingRow(recording_id, "dev-synth", "development", f"foa_dev/{recording_id}.wav",
                        f"video_dev/{recording_id}.mp4", f"metadata_dev/{recording_id}.csv", 4.0, "ok", None, None,
                        None, None, "hash")


def output(recording_id: str, *, n_candidates=10, n_qualifying=3, seconds=None, failure=None):
    return RecordingSummary(recording_id, n_candidates, n_qualifying, 0, 0, 0, seconds or {}, 0, failure)


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
