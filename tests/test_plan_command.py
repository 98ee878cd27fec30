"""`savgbench plan --annotations-only` on real STARSS22 annotation files (copied into a STARSS layout without any
media): one real Prefect flow run writes the four manifests and no media, keeps exactly the clips the selection rule
predicts from the same annotations, and prints the funnel."""

import contextlib
import io
import shutil
import warnings
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curation.plan import plan_recording
from data_contracts.annotations import read_annotations
from data_contracts.manifests import validate_manifests
from data_contracts.recipe import Recipe
from flows.cli import main
from tests.helpers import MANIFEST_NAMES, starss22_sample

pytestmark = pytest.mark.slow

# (folder in the sample, stem, where the copy goes: a dev folder, or straight into the eval set's folder)
FILES = [
    ("dev-train-sony", "fold3_room21_mix001", "metadata_dev/dev-train-sony"),
    ("dev-train-sony", "fold3_room21_mix003", "metadata_dev/dev-train-sony"),
    ("dev-train-tau", "fold3_room4_mix001", "metadata_dev/dev-train-tau"),
    ("dev-train-tau", "fold3_room6_mix001", "metadata_eval"),
]


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """The source folder (annotations only), the output folder, and what `savgbench plan` printed."""
    sample = starss22_sample()
    source = tmp_path_factory.mktemp("source")
    for folder, stem, target in FILES:
        (source / target).mkdir(parents=True, exist_ok=True)
        shutil.copy(sample / folder / f"{stem}.csv", source / target / f"{stem}.csv")
    out = tmp_path_factory.mktemp("out")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # capsys is per test; the run is per module
        code = main(["plan", str(source), str(out), "--annotations-only", "--recipe", "exhaustive"])
    assert code == 0
    return source, out, printed.getvalue()


def predicted(source: Path):
    """The selection rule's plans of the same annotations, each recording lasting to its last annotated frame."""
    plans = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # released files repeat rows verbatim
        for path in sorted(source.rglob("*.csv")):
            rows = read_annotations(path)
            folder = path.parent.name if path.parent.name.startswith("dev-") else "eval"
            split = "generation" if folder.startswith("dev-") else "evaluation"
            duration_s = (max(r.frame for r in rows) + 1) / 10
            plans[path.stem] = plan_recording(path.stem, folder, split, duration_s, rows, Recipe())
    return plans


def test_plan_writes_the_four_manifests_and_no_media(planned):
    _, out, _ = planned
    tables = {name: pq.read_table(out / "manifests" / f"{name}.parquet") for name in MANIFEST_NAMES}
    validate_manifests(tables["recordings"], tables["clips"], tables["events"], tables["rejects"])
    media = [p for p in out.rglob("*") if p.suffix in (".mp4", ".wav") or p.parts[len(out.parts)] in (
        "video_dev", "audio_dev", "metadata_dev", "video_eval", "audio_eval", "metadata_eval")]
    assert media == []
    recordings = tables["recordings"]
    assert recordings.num_rows == len(FILES) and set(recordings.column("status").to_pylist()) == {"ok"}
    assert recordings.column("audio_sha256").null_count == recordings.num_rows
    assert set(tables["clips"].column("recipe_hash").to_pylist()) == {Recipe().recipe_hash}


def test_plan_keeps_the_clips_the_selection_rule_predicts(planned):
    source, out, _ = planned
    plans = predicted(source)
    clips = pq.read_table(out / "manifests" / "clips.parquet", columns=["clip_id", "split"])
    expected_ids = sorted(c.clip.clip_id for plan in plans.values() for c in plan.clips)
    assert clips.num_rows == len(expected_ids) > 100
    assert sorted(clips.column("clip_id").to_pylist()) == expected_ids
    n_events = pq.read_metadata(out / "manifests" / "events.parquet").num_rows
    assert n_events == sum(len(c.events) for plan in plans.values() for c in plan.clips)
    evaluation = plans["fold3_room6_mix001"].clips
    assert pc.sum(pc.equal(pc.cast(clips.column("split"), "string"), "evaluation")).as_py() == len(evaluation) > 0


def test_plan_prints_the_funnel_and_where_the_manifests_are(planned):
    source, out, printed = planned
    plans = predicted(source)
    n_generation = sum(len(p.clips) for rid, p in plans.items() if rid != "fold3_room6_mix001")
    n_evaluation = len(plans["fold3_room6_mix001"].clips)
    lines = printed.splitlines()
    assert lines[:4] == [
        f"recordings: {len(FILES)} found, {len(FILES)} accepted, 0 rejected",
        f"candidate (window, view) pairs: {sum(p.n_candidates for p in plans.values())}",
        f"qualifying pairs: {sum(p.n_qualifying for p in plans.values())}",
        f"clips kept: {n_generation + n_evaluation} (generation {n_generation}, evaluation {n_evaluation})",
    ]
    assert lines[-2:] == [
        f"manifests: {out / 'manifests'} (recordings, clips, events, rejects .parquet)",
        f"report: {out / 'report' / 'summary.md'}",
    ]
    # Between them, the funnel per split and target class: one line per stage, the "all" column last.
    funnel = {line.split()[0]: line.split() for line in lines[5:-2] if line.split() and line.split()[0] != "note:"}
    assert lines[4].split()[0] == "funnel" and lines[4].split()[-1] == "all"
    assert int(funnel["candidates"][-1]) == sum(p.n_candidates for p in plans.values())
    assert int(funnel["qualifying"][-1]) == sum(p.n_qualifying for p in plans.values())
    assert int(funnel["kept"][-1]) == n_generation + n_evaluation


def test_run_curation_refuses_rendering_from_annotations_alone(tmp_path):
    from flows.pipeline import PlainTaskCaller, run_curation

    with PlainTaskCaller(1) as caller, pytest.raises(ValueError, match="annotations_only is for planning"):
        run_curation(str(tmp_path / "source"), str(tmp_path / "out"), Recipe(), caller, annotations_only=True)
    assert not (tmp_path / "out").exists()


def test_run_curation_applies_the_annotations_only_folder_check(tmp_path):
    from flows.pipeline import PlainTaskCaller, run_curation

    (tmp_path / "source" / "foa_dev" / "dev-train-x").mkdir(parents=True)
    (tmp_path / "source" / "foa_dev" / "dev-train-x" / "a.wav").write_bytes(b"")
    with PlainTaskCaller(1) as caller, pytest.raises(ValueError, match="no annotation files under it"):
        run_curation(str(tmp_path / "source"), str(tmp_path / "out"), Recipe(), caller, render=False,
                     annotations_only=True)
