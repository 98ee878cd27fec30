"""The clip budget and the class balance in the flow (`flows.pipeline.run_curation`): each split keeps the clips
`class_budgets` gives each target class, exactly those with the smallest clip hashes, whatever the workers and the
recording order; a budget change (or a change of a split's recordings) rewrites that split's parts; a render keeps
to the budget and a larger budget renders only the clips it adds; the report shows the funnel per split and class.

Planning runs on real STARSS22 annotation files (annotations only: skipped when `../shared` is absent); the render
run on a small synthetic recording set."""

from __future__ import annotations

import shutil
import types
import warnings
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import flows.pipeline
import tasks.curate_recording
from curation.budget import class_budgets, clip_hash
from curation.plan import plan_recording
from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from data_contracts.annotations import read_annotations
from data_contracts.errors import ContractError
from data_contracts.manifests import validate_manifests
from data_contracts.recipe import load_recipe
from flows.pipeline import PlainTaskCaller, run_curation
from tasks.curate_recording import reload_recording_task
from tasks.discover import inspect_annotations
from tasks.outcomes import RUN_FUNNEL_STAGES
from tasks.parts import PARTS_DIR, load_part_info
from tasks.report import PLANNED_NOTE, class_funnel_lines, read_class_funnel_rows, read_summary_rows
from tests.helpers import MANIFEST_NAMES, starss22_sample

# (folder in the sample, stem, where the copy goes). Instrument clips in room6 mix001, mix002 and mix005 only.
FILES = [
    ("dev-train-sony", "fold3_room21_mix001", "metadata_dev/dev-train-sony"),
    ("dev-train-sony", "fold3_room21_mix003", "metadata_dev/dev-train-sony"),
    ("dev-train-tau", "fold3_room4_mix001", "metadata_dev/dev-train-tau"),
    ("dev-train-tau", "fold3_room6_mix001", "metadata_dev/dev-train-tau"),
    ("dev-train-tau", "fold3_room6_mix002", "metadata_dev/dev-train-tau"),
    ("dev-train-tau", "fold3_room6_mix005", "metadata_eval"),
    ("dev-train-tau", "fold3_room9_mix001", "metadata_eval"),
]
POLICIES = ["min_view_separation_deg=45", "min_clip_gap_frames=25"]
BALANCE = {"speech": 2, "instrument": 1}
BUDGET = [*POLICIES, "max_clips_per_source_hour=700", "class_balance={speech: 2, instrument: 1}"]


@pytest.fixture(scope="module")
def annotations_source(tmp_path_factory) -> Path:
    """A source folder holding only the annotation files of FILES, in a STARSS layout."""
    sample = starss22_sample()
    source = tmp_path_factory.mktemp("annotations")
    for folder, stem, target in FILES:
        (source / target).mkdir(parents=True, exist_ok=True)
        shutil.copy(sample / folder / f"{stem}.csv", source / target / f"{stem}.csv")
    return source


def plan_run(source: Path, out: Path, overrides, workers: int = 2):
    with PlainTaskCaller(workers) as caller:
        return run_curation(str(source), str(out), load_recipe(overrides=overrides), caller, render=False,
                            annotations_only=True)


def candidates(source: Path, overrides):
    """The plans' clips after the de-duplication policies, as the selection rule predicts them: (split, target
    class) -> clip ids; and each split's source seconds (each recording lasting to its last annotated frame)."""
    recipe = load_recipe(overrides=overrides)
    clips, seconds = defaultdict(list), defaultdict(list)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # released files repeat rows verbatim
        for path in sorted(source.rglob("*.csv")):
            rows = read_annotations(path)
            split = "evaluation" if path.parent.name == "metadata_eval" else "generation"
            folder = "eval" if split == "evaluation" else path.parent.name
            duration_s = (max(r.frame for r in rows) + 1) / 10
            plan = plan_recording(path.stem, folder, split, duration_s, rows, recipe)
            for clip in plan.clips:
                clips[split, clip.clip.target_class].append(clip.clip.clip_id)
            seconds[split].append(duration_s)
    return clips, seconds


def kept_by_class(out: Path) -> dict[tuple[str, str], list[str]]:
    clips = pq.read_table(out / "manifests" / "clips.parquet", columns=["clip_id", "split", "target_class"])
    kept = defaultdict(list)
    for clip_id, split, target in zip(*(clips.column(name).to_pylist() for name in clips.column_names)):
        kept[split, target].append(clip_id)
    return kept


def manifest_bytes(out: Path) -> dict[str, bytes]:
    files = {name: (out / "manifests" / f"{name}.parquet").read_bytes() for name in MANIFEST_NAMES}
    files.update({split.name: split.read_bytes() for split in sorted((out / "splits").iterdir())})
    return files


def test_each_split_keeps_the_class_budgets_of_clips_with_the_smallest_hashes(annotations_source, tmp_path):
    run = plan_run(annotations_source, tmp_path / "out", BUDGET)
    tables = {name: pq.read_table(tmp_path / "out" / "manifests" / f"{name}.parquet") for name in MANIFEST_NAMES}
    validate_manifests(*tables.values())
    clips, seconds = candidates(annotations_source, BUDGET)
    kept = kept_by_class(tmp_path / "out")
    n_kept = 0
    for split in ("generation", "evaluation"):
        present = {target: len(clips[split, target]) for target in BALANCE if clips[split, target]}
        hours = float(Fraction(sum(Fraction(s) for s in seconds[split])) / 3600)
        budgets = class_budgets(present, hours, 700, BALANCE)
        for target in BALANCE:
            expected = sorted(clips[split, target], key=clip_hash)[:budgets[target]]
            assert sorted(kept[split, target]) == sorted(expected), (split, target)
            n_kept += len(expected)
        # Both policies bite here: a budget that binds, shared 2 : 1, where the candidates are nearer 1 : 1.
        assert budgets["speech"] + budgets["instrument"] == round(700 * hours) < sum(present.values())
        assert abs(budgets["speech"] / budgets["instrument"] - 2) < 0.05
        assert present["speech"] < 2 * present["instrument"]
    assert run.n_clips == n_kept == tables["clips"].num_rows
    # The events are the kept clips' only.
    assert set(pc.unique(tables["events"].column("clip_id")).to_pylist()) <= set(
        tables["clips"].column("clip_id").to_pylist())


def test_the_kept_clips_do_not_depend_on_the_workers_or_the_recording_order(annotations_source, tmp_path,
                                                                              monkeypatch):
    plan_run(annotations_source, tmp_path / "one", BUDGET, workers=1)
    plan_run(annotations_source, tmp_path / "two", BUDGET, workers=2)
    # The recordings discovered in the reverse order: planned, decided and written in that order.
    real_discover = flows.pipeline.discover.fn

    def reversed_discover(*args):
        found = real_discover(*args)
        return types.SimpleNamespace(accepted=found.accepted[::-1], rejected_rows=found.rejected_rows,
                                     rejects=found.rejects)

    monkeypatch.setattr(flows.pipeline, "discover", types.SimpleNamespace(fn=reversed_discover))
    plan_run(annotations_source, tmp_path / "reversed", BUDGET, workers=2)
    one = manifest_bytes(tmp_path / "one")
    assert manifest_bytes(tmp_path / "two") == one and manifest_bytes(tmp_path / "reversed") == one
    summaries = [(tmp_path / name / "report" / "summary.md").read_text() for name in ("one", "two", "reversed")]
    assert summaries[1] == summaries[0] and summaries[2] == summaries[0]


def test_a_budget_change_or_another_recording_in_a_split_rewrites_that_splits_parts(annotations_source, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(annotations_source, source)
    out = tmp_path / "out"
    plan_run(source, out, BUDGET)
    keys = {p.name: load_part_info(out, p.name).key for p in (out / PARTS_DIR).iterdir()}
    mtimes = {p: p.stat().st_mtime_ns for p in (out / PARTS_DIR).rglob("*")}
    kept = kept_by_class(out)

    # The same recipe and recordings: every part kept as it is.
    plan_run(source, out, BUDGET)
    assert {p: p.stat().st_mtime_ns for p in (out / PARTS_DIR).rglob("*")} == mtimes

    # A smaller budget: every part written again, and fewer clips in every (split, class) that was cut.
    smaller = [*BUDGET[:2], "max_clips_per_source_hour=350", BUDGET[3]]
    plan_run(source, out, smaller)
    for recording_id, key in keys.items():
        assert load_part_info(out, recording_id).key != key, recording_id
    fewer = kept_by_class(out)
    assert sum(map(len, fewer.values())) < sum(map(len, kept.values()))
    assert all(set(fewer[cell]) <= set(kept[cell]) for cell in fewer)  # a smaller budget keeps a subset

    # Back to the first budget, then one generation recording less: the generation split's thresholds change,
    # so its parts are written again; the evaluation split's are not.
    plan_run(source, out, BUDGET)
    assert kept_by_class(out) == kept
    evaluation = {p: p.stat().st_mtime_ns for p in (out / PARTS_DIR).rglob("*") if "room6_mix005" in str(p)
                  or "room9_mix001" in str(p)}
    before = {p.name: load_part_info(out, p.name).key for p in (out / PARTS_DIR).iterdir()}
    (source / "metadata_dev" / "dev-train-sony" / "fold3_room21_mix003.csv").unlink()
    plan_run(source, out, BUDGET)
    after = {p.name: load_part_info(out, p.name).key for p in (out / PARTS_DIR).iterdir()}
    assert "fold3_room21_mix003" not in after
    for recording_id in ("fold3_room21_mix001", "fold3_room4_mix001", "fold3_room6_mix001", "fold3_room6_mix002"):
        assert after[recording_id] != before[recording_id], recording_id
    assert {p: p.stat().st_mtime_ns for p in evaluation} == evaluation


def test_the_summary_shows_the_funnel_per_split_and_class(annotations_source, tmp_path):
    plan_run(annotations_source, tmp_path / "out", BUDGET)
    summary = tmp_path / "out" / "report" / "summary.md"
    rows = read_class_funnel_rows(summary)
    assert [row["stage"] for row in rows] == [stage.replace("_", " ") for stage in RUN_FUNNEL_STAGES]
    columns = ["generation speech", "generation instrument", "evaluation speech", "evaluation instrument"]
    assert list(rows[0]) == ["stage", *columns, "all"]
    by_stage = {row["stage"]: row for row in rows}
    clips, _ = candidates(annotations_source, BUDGET)
    kept = kept_by_class(tmp_path / "out")
    for column in columns:
        split, target = column.split()
        counts = [row[column] for row in rows]
        assert counts == sorted(counts, reverse=True), column  # a funnel: each step keeps at most the one before
        assert by_stage["after clip gap"][column] == len(clips[split, target])
        # Planning only: the planned clips are what is "rendered" and kept.
        assert by_stage["after budget"][column] == by_stage["rendered"][column] == by_stage["kept"][column] == len(
            kept[split, target])
    # Speech is the scarcer class for the ratio in both splits: the ratio keeps every speech clip and half as many
    # instrument clips; the budget then cuts both.
    for split in ("generation", "evaluation"):
        speech, instrument = f"{split} speech", f"{split} instrument"
        assert by_stage["after class balance"][speech] == by_stage["after clip gap"][speech]
        assert by_stage["after class balance"][instrument] == by_stage["after clip gap"][speech] // 2
        assert by_stage["after class balance"][instrument] < by_stage["after clip gap"][instrument]
        for column in (speech, instrument):
            assert by_stage["after budget"][column] < by_stage["after class balance"][column]
    assert all(row["all"] == sum(row[column] for column in columns) for row in rows)
    text = summary.read_text()
    assert PLANNED_NOTE in text
    # The first table is read as before: the pairs, and the budget of each split.
    first = {row["stage"]: row["count"] for row in read_summary_rows(summary)}
    assert first["candidate (window, view) pairs"] == by_stage["candidates"]["all"]
    assert first["qualifying pairs"] == by_stage["qualifying"]["all"]
    assert first["clips kept"] == by_stage["kept"]["all"]
    assert first["budget of evaluation: clips (max_clips_per_source_hour x hours)"] == (
        by_stage["after budget"]["evaluation speech"] + by_stage["after budget"]["evaluation instrument"])

    # The ratio alone: the same cut, and no budget after it.
    plan_run(annotations_source, tmp_path / "balance", [*POLICIES, BUDGET[3]])
    balance_only = read_class_funnel_rows(tmp_path / "balance" / "report" / "summary.md")
    for row in balance_only:
        if row["stage"] in ("after budget", "rendered", "kept"):
            assert {c: row[c] for c in columns} == {c: by_stage["after class balance"][c] for c in columns}

    # The policies off: every step after "qualifying" keeps what the step before kept.
    plan_run(annotations_source, tmp_path / "off", [])
    rows = read_class_funnel_rows(tmp_path / "off" / "report" / "summary.md")
    for column in [*columns, "all"]:
        assert len({row[column] for row in rows[1:]}) == 1, column


def test_annotations_changed_since_inspection_are_refused_when_read_again(annotations_source, tmp_path):
    from curation.discover import SourceRecording

    source = tmp_path / "source"
    (source / "metadata_dev" / "dev-train-sony").mkdir(parents=True)
    csv = source / "metadata_dev" / "dev-train-sony" / "fold3_room21_mix001.csv"
    shutil.copy(annotations_source / "metadata_dev" / "dev-train-sony" / csv.name, csv)
    recording = SourceRecording("fold3_room21_mix001", "dev-train-sony", "foa_dev/dev-train-sony/x.wav",
                                "video_dev/dev-train-sony/x.mp4", "metadata_dev/dev-train-sony/fold3_room21_mix001.csv")
    recipe = load_recipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inspected = inspect_annotations(recording, "generation", str(source), recipe)
        again = reload_recording_task.fn(inspected.row, None, str(source))
    assert again == inspected.loaded
    csv.write_text(csv.read_text() + "5999,1,0,10,0\n")
    with pytest.raises(ContractError, match="fold3_room21_mix001.csv: changed since it was inspected in this run"):
        reload_recording_task.fn(inspected.row, None, str(source))


@pytest.mark.parametrize("failing_call", [1, 2], ids=["first pass", "second pass"])
def test_a_recording_whose_plan_raises_is_rejected_once_and_the_run_goes_on(annotations_source, tmp_path,
                                                                             monkeypatch, failing_call):
    # The first pass plans for the clip hashes, the second plans again given the thresholds.
    real_plan = tasks.curate_recording.plan_recording
    calls = []

    def plan_recording(recording_id, *args, **kwargs):
        calls.append(recording_id)
        if recording_id == "fold3_room4_mix001" and calls.count(recording_id) == failing_call:
            raise ZeroDivisionError("no windows")
        return real_plan(recording_id, *args, **kwargs)

    monkeypatch.setattr(tasks.curate_recording, "plan_recording", plan_recording)
    run = plan_run(annotations_source, tmp_path / "out", BUDGET)
    rejects = pq.read_table(tmp_path / "out" / "manifests" / "rejects.parquet").to_pylist()
    assert [(r["recording_id"], r["stage"], r["reason"], r["detail"]) for r in rejects] == [
        ("fold3_room4_mix001", "plan", "internal_error", "ZeroDivisionError: no windows")]
    assert run.n_rejected_recordings == 1 and run.n_clips > 0
    recordings = pq.read_table(tmp_path / "out" / "manifests" / "recordings.parquet").to_pylist()
    hours = {row["stage"]: row["count"] for row in read_summary_rows(tmp_path / "out" / "report" / "summary.md")}[
        "budget of generation: accepted source hours"]
    durations = [r["duration_s"] for r in recordings if r["split"] == "generation" and r["status"] == "ok"]
    # Its hours count only when it was rejected after the budget was decided.
    if failing_call == 1:
        assert hours == round(sum(durations) / 3600, 4)
    else:
        failed = next(r["duration_s"] for r in recordings if r["recording_id"] == "fold3_room4_mix001")
        assert hours == round((sum(durations) + failed) / 3600, 4)


# The synthetic render run: short windows so that 4 s recordings hold several clips.
RENDER_RECIPE = ["view_azimuths_deg=[0, 60, 120, 180, 240, 300]", "window_frames=20", "hop_frames=10",
                 "min_onscreen_frames=5"]


def test_a_render_keeps_to_the_budget_and_a_larger_budget_renders_only_the_clips_it_adds(tmp_path):
    source = tmp_path / "source"
    write_synthetic_dataset(source, SynthConfig(n_recordings=2, duration_s=4.0, seed=11, width_px=128,
                                                height_px=64, fps=Fraction(20)))
    with PlainTaskCaller(2) as caller:
        everything = run_curation(str(source), str(tmp_path / "all"), load_recipe(overrides=RENDER_RECIPE), caller,
                                  render=False)
    # 8 s of generation recordings: 1350 clips an hour is a budget of 3 clips, 2700 of 6.
    assert everything.n_clips > 6
    out = tmp_path / "out"

    def render(rate: int):
        with PlainTaskCaller(2) as caller:
            return run_curation(str(source), str(out), load_recipe(
                overrides=[*RENDER_RECIPE, f"max_clips_per_source_hour={rate}"]), caller)

    def clip_files() -> dict[str, int]:
        return {p.stem: p.stat().st_mtime_ns for p in (out / "video_dev").iterdir()}

    def expected(rate: int) -> list[str]:
        """The budget's clips predicted from the unbudgeted plan: per class, those with the smallest hashes."""
        clips = pq.read_table(tmp_path / "all" / "manifests" / "clips.parquet",
                              columns=["clip_id", "target_class"]).to_pylist()
        by_class = defaultdict(list)
        for clip in clips:
            by_class[clip["target_class"]].append(clip["clip_id"])
        budgets = class_budgets({target: len(ids) for target, ids in by_class.items()}, 8 / 3600, rate, None)
        return sorted(clip_id for target, ids in by_class.items() for clip_id in sorted(ids, key=clip_hash)[
            :budgets[target]])

    small = render(1350)
    assert small.n_clips == small.n_rendered_clips == 3
    kept = pq.read_table(out / "manifests" / "clips.parquet", columns=["clip_id"]).column("clip_id").to_pylist()
    assert sorted(kept) == expected(1350)
    assert sorted(clip_files()) == sorted(kept)  # only the kept clips were rendered
    first = clip_files()

    larger = render(2700)
    assert larger.n_clips == 6 and larger.n_rendered_clips == 3  # only the clips the larger budget adds
    assert sorted(clip_files()) == expected(2700)
    now = clip_files()
    assert {clip_id: now[clip_id] for clip_id in first} == first  # the others not rendered again
    funnel = {row["stage"]: row["all"] for row in read_class_funnel_rows(out / "report" / "summary.md")}
    assert funnel["after clip gap"] == everything.n_clips
    assert funnel["after budget"] == funnel["rendered"] == funnel["kept"] == 6
    assert PLANNED_NOTE not in (out / "report" / "summary.md").read_text()

    # Back to the small budget: nothing rendered, the clips it drops deleted.
    again = render(1350)
    assert again.n_rendered_clips == 0 and sorted(clip_files()) == sorted(kept)


@pytest.mark.slow
def test_the_plan_flow_keeps_the_same_clips_with_the_threads_runner_at_one_and_two_workers(annotations_source,
                                                                                           tmp_path):
    from flows.plan import plan
    from flows.runners import make_task_runner

    plan_run(annotations_source, tmp_path / "plain", BUDGET)
    for workers in (1, 2):
        out = tmp_path / f"threads-{workers}"
        state = plan.with_options(task_runner=make_task_runner("threads", workers=workers))(
            str(annotations_source), str(out), overrides=BUDGET, annotations_only=True, return_state=True)
        assert state.is_completed(), state.message
        assert manifest_bytes(out) == manifest_bytes(tmp_path / "plain"), workers
        assert read_class_funnel_rows(out / "report" / "summary.md") == read_class_funnel_rows(
            tmp_path / "plain" / "report" / "summary.md")


def test_verification_after_the_budget_shows_between_rendered_and_kept(tmp_path, monkeypatch):
    import tasks.verify
    from curation.metric.detect import Detections

    # A detector that finds nobody: every clip with onscreen speech is rejected by verification.
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: lambda frames, box: Detections.empty())
    monkeypatch.setattr(flows.pipeline, "recipe_detect", lambda recipe: lambda frames, box: Detections.empty())
    source = tmp_path / "source"
    write_synthetic_dataset(source, SynthConfig(n_recordings=2, duration_s=4.0, seed=11, width_px=128,
                                                height_px=64, fps=Fraction(20)))
    recipe = load_recipe(overrides=[*RENDER_RECIPE, "max_clips_per_source_hour=2700", "verify=true",
                                    "min_visual_confirmation=0.5"])
    with PlainTaskCaller(2) as caller:
        run = run_curation(str(source), str(tmp_path / "out"), recipe, caller)
    rejects = pq.read_table(tmp_path / "out" / "manifests" / "rejects.parquet").to_pylist()
    n_verify_rejects = sum(r["stage"] == "verify" for r in rejects)
    assert n_verify_rejects > 0
    funnel = {row["stage"]: row["all"] for row in read_class_funnel_rows(tmp_path / "out" / "report" / "summary.md")}
    assert funnel["after budget"] == funnel["rendered"] == 6
    assert funnel["kept"] == run.n_clips == 6 - n_verify_rejects


# Four sony files (6.8 minutes): 64 clips after the two de-duplication steps, short of 700 clips an hour (80).
SHORT_FILES = ["fold3_room21_mix001", "fold3_room21_mix003", "fold3_room21_mix007", "fold3_room21_mix018"]


def test_a_split_short_of_its_budget_is_filled_up_within_the_near_duplicate_limit(tmp_path):
    from curation.budget import fill_budgets, fill_limit
    from curation.selection import near_duplicate_counts

    sample = starss22_sample()
    source = tmp_path / "source"
    (source / "metadata_dev" / "dev-train-sony").mkdir(parents=True)
    for stem in SHORT_FILES:
        shutil.copy(sample / "dev-train-sony" / f"{stem}.csv", source / "metadata_dev" / "dev-train-sony")
    recipe = load_recipe("release")
    with PlainTaskCaller(2) as caller:
        run_curation(str(source), str(tmp_path / "out"), recipe, caller, render=False, annotations_only=True)

    # What the selection predicts: every clip after the clip gap, then the fill clips with the smallest hashes of
    # each class, as many as the budget lacks and the near-duplicate limit allows.
    kept, fill_pool, near, seconds = [], defaultdict(list), 0, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # released files repeat rows verbatim
        for path in sorted(source.rglob("*.csv")):
            rows = read_annotations(path)
            duration_s = (max(r.frame for r in rows) + 1) / 10
            seconds.append(duration_s)
            plan = plan_recording(path.stem, path.parent.name, "generation", duration_s, rows, recipe)
            kept += plan.clips.clip_id.to_pylist()
            starts, azimuths = plan.clips.arrays["start_frame"], plan.clips.arrays["view_azimuth_deg"]
            near += int(near_duplicate_counts([path.stem] * len(starts), starts, azimuths, np.zeros(len(starts)),
                                              recipe.window_frames, recipe.h_fov_deg).sum())
            for clip in plan.fill.fill_clips:
                fill_pool[clip.clip.target_class].append(clip.clip.clip_id)
    budget = round(700 * sum(seconds) / 3600)
    n_fill = min(budget - len(kept), fill_limit(len(kept), near, 0.9))
    assert 0 < n_fill < sum(len(ids) for ids in fill_pool.values())
    shares = fill_budgets({target: len(ids) for target, ids in fill_pool.items()}, n_fill, BALANCE)
    for target, ids in fill_pool.items():
        kept += sorted(ids, key=clip_hash)[:shares[target]]

    clips = pq.read_table(tmp_path / "out" / "manifests" / "clips.parquet").to_pandas()
    assert sorted(clips["clip_id"]) == sorted(kept)
    counts = near_duplicate_counts(clips["recording_id"], clips["start_frame"], clips["view_azimuth_deg"],
                                   clips["view_elevation_deg"], recipe.window_frames, recipe.h_fov_deg)
    assert counts.mean() <= 0.9 and counts.sum() <= near + 2 * n_fill
    summary = {row["stage"]: row["count"] for row in read_summary_rows(tmp_path / "out" / "report" / "summary.md")}
    filled = {stage: count for stage, count in summary.items() if "filled up from de-duplicated" in stage}
    assert sum(filled.values()) == n_fill and len(filled) == 2
    # `savgbench plan` prints them under its funnel.
    printed = class_funnel_lines(tmp_path / "out" / "report" / "summary.md")
    assert all(f"{stage}: {count}" in printed for stage, count in filled.items())
