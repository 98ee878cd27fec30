"""Nothing one recording does stops the run, one output folder takes one run at a time, and the tables are the same
wherever the folders are.

- An exception a recording's task raises (inspect, plan, render) rejects that recording (`internal_error`, in that
  stage, the exception named in the detail) and the others are curated; the flow ends Completed with a message
  counting the rejected recordings, and `savgbench curate` exits 0 and prints the count.
- A second run on an output folder a run holds is refused at once, naming the running one (`OutputBusy`; exit code
  3 from the command line); once the first ends, a run goes through.
- One source curated from two places into two places gives byte-identical manifests, none of whose cells holds
  either absolute root, reject details included.
"""

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import tasks.curate_recording
import tasks.discover
from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from data_contracts.recipe import load_recipe
from tests.helpers import PROJECT_ROOT

# Short windows and four views so that 4 s recordings hold a few clips each.
RECIPE = ["view_azimuths_deg=[0, 90, 180, 270]", "window_frames=20", "hop_frames=10", "min_onscreen_frames=5"]
# The rule itself (`exhaustive`), not the CLI's default `release`, whose budget leaves a 4 s recording few clips.
RECIPE_OPTIONS = ["--recipe", "exhaustive", *(argument for override in RECIPE for argument in ("--set", override))]
FOLDER = "dev-train-synth"
RECORDINGS = ("fold3_room90_mix001", "fold4_room91_mix001", "fold5_room92_mix001")
BAD_VIDEO = "fold3_room90_mix009"  # a copy of the first recording with a garbage mp4


class InjectedError(Exception):
    """An exception no task expects."""


@pytest.fixture(scope="module")
def synthetic_source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resilience-source")
    write_synthetic_dataset(root, SynthConfig(n_recordings=3, duration_s=4.0, seed=11, width_px=320, height_px=160,
                                              fps=Fraction(20)))
    return root


def copy_source(synthetic_source: Path, root: Path, *, bad_video: bool = False) -> Path:
    """The synthetic source copied to `root`; with `bad_video`, plus a recording whose mp4 is random bytes."""
    shutil.copytree(synthetic_source, root)
    if bad_video:
        for top, suffix in (("foa_dev", ".wav"), ("metadata_dev", ".csv")):
            folder = root / top / FOLDER
            shutil.copyfile(folder / f"{RECORDINGS[0]}{suffix}", folder / f"{BAD_VIDEO}{suffix}")
        (root / "video_dev" / FOLDER / f"{BAD_VIDEO}.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
    return root


def plain_run(source: Path, out: Path, overrides=()):
    from flows.pipeline import PlainTaskCaller, run_curation

    with PlainTaskCaller(2) as caller:
        return run_curation(str(source), str(out), load_recipe(overrides=[*RECIPE, *overrides]), caller)


def prefect_curate():
    from flows.curate import curate
    from flows.runners import make_task_runner

    return curate.with_options(task_runner=make_task_runner("threads", workers=2))


def manifests(out: Path) -> dict:
    return {name: pq.read_table(out / "manifests" / f"{name}.parquet").to_pandas()
            for name in ("recordings", "clips", "rejects")}


def raise_for(monkeypatch, module, name: str, recording_id_of, recording_id: str, exc: Exception) -> None:
    """Make `module.name` raise `exc` when called for `recording_id` (`recording_id_of(first argument)`), and do
    its real work otherwise."""
    real = getattr(module, name)

    def wrapper(first, *args, **kwargs):
        if recording_id_of(first) == recording_id:
            raise exc
        return real(first, *args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def assert_rejected_alone(out: Path, recording_id: str, stage: str, exception_name: str) -> None:
    """`recording_id` is rejected as internal_error by one rejects row of `stage` naming the exception; every other
    recording is curated into clips; nothing of the rejected one is on disk."""
    tables = manifests(out)
    rejects = tables["rejects"]
    mine = rejects[rejects["recording_id"] == recording_id]
    assert list(zip(mine["stage"], mine["reason"], mine["clip_id"].isna())) == [(stage, "internal_error", True)]
    assert exception_name in mine["detail"].iloc[0], mine["detail"].iloc[0]
    recordings = tables["recordings"].set_index("recording_id")
    assert (recordings.loc[recording_id, "status"], recordings.loc[recording_id, "reason"]) == \
        ("rejected", "internal_error")
    others = set(RECORDINGS) - {recording_id}
    assert (recordings.loc[sorted(others), "status"] == "ok").all()
    assert set(tables["clips"]["recording_id"]) == others
    assert not list(out.glob(f"video_*/{recording_id}_*")) and not list(out.glob(f"audio_*/{recording_id}_*"))


def test_a_detail_leaves_out_either_root_as_given_and_as_resolved(tmp_path, monkeypatch):
    from tasks.outcomes import relative_detail

    (tmp_path / "real" / "source").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    source, out = tmp_path / "link" / "source", tmp_path / "out"
    detail = (f"{tmp_path}/real/source/video_dev/a.mp4: no frames; {source}/foa_dev/a.wav; "
              f"{out}/video_generation/c.mp4 is missing")
    assert relative_detail(detail, source, out) == \
        "video_dev/a.mp4: no frames; foa_dev/a.wav; video_generation/c.mp4 is missing"
    monkeypatch.chdir(tmp_path)  # relative roots are taken from the working folder
    assert relative_detail(detail, "link/source", "out") == relative_detail(detail, source, out)
    # Other paths, a root's name inside another word and a root without a path under it are left alone.
    kept = f"/elsewhere/x.mp4 about/out; {out}: not writable"
    assert relative_detail(kept, source, out) == kept
    # One root inside the other: the longer prefix goes first.
    assert relative_detail(f"{out}/src/foa_dev/a.wav", out / "src", out) == "foa_dev/a.wav"
    # The filesystem root is no prefix to leave out: it would strip every path's first slash.
    assert relative_detail("/data/a.wav", "/", out) == "/data/a.wav"


@pytest.mark.parametrize("raising, recording_id_of", [
    ("render_recording", lambda plan: plan.recording_id),  # caught by the render task itself
    ("render_key", lambda row: row.recording_id),  # before the task's own catch: the task run fails
])
def test_an_exception_in_one_recordings_render_rejects_it_and_the_run_goes_on(synthetic_source, tmp_path,
                                                                              monkeypatch, raising, recording_id_of):
    source = copy_source(synthetic_source, tmp_path / "source")
    raise_for(monkeypatch, tasks.curate_recording, raising, recording_id_of, RECORDINGS[1],
              KeyError("view_azimuth_deg"))
    run = plain_run(source, tmp_path / "out")
    assert_rejected_alone(tmp_path / "out", RECORDINGS[1], "render", "KeyError")
    assert (run.n_recordings, run.n_rejected_recordings) == (3, 1) and run.n_clips > 0
    assert run.summary == (f"recordings: 2 curated ({run.n_clips} clips), 1 rejected "
                           f"(see {tmp_path.resolve() / 'out' / 'manifests' / 'rejects.parquet'})")


def test_a_plan_that_raises_rejects_its_recording_once_in_the_plan_stage(synthetic_source, tmp_path, monkeypatch):
    # The render of that recording, given the failed plan, fails too: the recording is reported once.
    source = copy_source(synthetic_source, tmp_path / "source")
    raise_for(monkeypatch, tasks.curate_recording, "plan_recording", lambda recording_id: recording_id,
              RECORDINGS[0], ZeroDivisionError("no windows"))
    run = plain_run(source, tmp_path / "out")
    assert_rejected_alone(tmp_path / "out", RECORDINGS[0], "plan", "ZeroDivisionError: no windows")
    assert run.n_rejected_recordings == 1


def test_a_verification_that_raises_rejects_its_recording_in_the_verify_stage(synthetic_source, tmp_path,
                                                                              monkeypatch):
    import flows.pipeline
    import tasks.verify
    from curation.metric.detect import Detections

    # A detector that finds nobody stands in for model weights: what is checked is the flow around verification.
    def recipe_detect(recipe):
        return lambda frames, content_box_px: Detections.empty()

    monkeypatch.setattr(flows.pipeline, "recipe_detect", recipe_detect)
    monkeypatch.setattr(tasks.verify, "recipe_detect", recipe_detect)
    raise_for(monkeypatch, tasks.verify, "verify_clips", lambda clips: clips.column("recording_id")[0].as_py(),
              RECORDINGS[2], InjectedError("no frames"))
    source = copy_source(synthetic_source, tmp_path / "source")
    run = plain_run(source, tmp_path / "out", ["verify=true"])
    assert_rejected_alone(tmp_path / "out", RECORDINGS[2], "verify", "InjectedError: no frames")
    assert run.n_rejected_recordings == 1


@pytest.mark.slow
def test_through_prefect_failed_tasks_reject_their_recordings_and_the_flow_completes(synthetic_source, tmp_path,
                                                                                     monkeypatch):
    # Through Prefect a failed task's future raises its exception, and a render whose plan failed never runs.
    source = copy_source(synthetic_source, tmp_path / "source")
    bad_wav = source / "foa_dev" / "dev-test-synth" / f"{RECORDINGS[1]}.wav"
    raise_for(monkeypatch, tasks.discover, "sha256_file", lambda path: Path(path).name, bad_wav.name,
              InjectedError("cannot hash"))
    raise_for(monkeypatch, tasks.curate_recording, "plan_recording", lambda recording_id: recording_id,
              RECORDINGS[2], KeyError("frame"))
    out = tmp_path / "out"
    state = prefect_curate()(str(source), str(out), overrides=RECIPE, return_state=True)

    assert state.is_completed()
    paths = state.result()  # what `curate(...)` returns
    assert paths["rejects"] == str(out.resolve() / "manifests" / "rejects.parquet") and Path(paths["audit"]).is_file()
    n_clips = pq.read_metadata(paths["clips"]).num_rows
    assert n_clips > 0
    assert state.message == f"recordings: 1 curated ({n_clips} clips), 2 rejected (see {paths['rejects']})"
    tables = manifests(out)
    assert set(tables["clips"]["recording_id"]) == {RECORDINGS[0]}
    rejects = tables["rejects"].set_index("recording_id")
    assert rejects.loc[RECORDINGS[1], ["stage", "reason", "detail"]].tolist() == \
        ["inspect", "internal_error", "InjectedError: cannot hash"]
    assert rejects.loc[RECORDINGS[2], ["stage", "reason", "detail"]].tolist() == \
        ["plan", "internal_error", "KeyError: 'frame'"]
    # The recording whose inspection raised has a row all the same: what discovery knew of it.
    row = tables["recordings"].set_index("recording_id").loc[RECORDINGS[1]]
    assert row[["source_folder", "split", "audio_path", "status", "reason"]].tolist() == \
        ["dev-test-synth", "generation", f"foa_dev/dev-test-synth/{RECORDINGS[1]}.wav", "rejected", "internal_error"]
    assert row.isna()["audio_sha256"] and row.isna()["duration_s"]
    # One task run per recording (inspect, plan and render in one), failed stages included (none of the task runs
    # failed), beside the run's own five: discover, write-manifests, prune-stale-outputs, report, audit.
    names = task_run_names(state)
    assert len(names) == len(RECORDINGS) + 5, names
    assert [name for name in names if name.startswith("curate-")] == [f"curate-{r}" for r in sorted(RECORDINGS)]


def task_run_names(state) -> list[str]:
    """The names of the task runs of the flow run that ended in `state`, sorted; each must have completed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert all(task_run.state.is_completed() for task_run in task_runs), [(t.name, t.state) for t in task_runs]
    return sorted(task_run.name for task_run in task_runs)


def test_a_second_run_on_a_held_output_folder_is_refused_at_once(synthetic_source, tmp_path, monkeypatch):
    import threading

    from tasks.run_lock import OutputBusy, OutputLock

    source = copy_source(synthetic_source, tmp_path / "source")
    out = tmp_path / "out"
    rendering, release = threading.Event(), threading.Event()
    real = tasks.curate_recording.render_recording

    def held_render(*args, **kwargs):
        rendering.set()
        assert release.wait(120), "the test never released the first run"
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks.curate_recording, "render_recording", held_render)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(plain_run, source, out)
        try:
            assert rendering.wait(120), "the first run never started rendering"
            holder = OutputLock.holder(out)
            assert holder is not None
            with pytest.raises(OutputBusy) as refused:
                plain_run(source, out)
            assert str(out) in str(refused.value) and holder in str(refused.value)
            assert not (out / "manifests").exists()  # the first run has not got there, the second wrote nothing
        finally:
            release.set()
        assert first.result().n_clips > 0
    assert OutputLock.holder(out) is None
    monkeypatch.setattr(tasks.curate_recording, "render_recording", real)
    assert plain_run(source, out).n_rejected_recordings == 0


def test_one_source_curated_from_two_places_gives_the_same_bytes(synthetic_source, tmp_path, monkeypatch):
    # Each copy has a recording refused at inspection (its video is garbage) and one whose render raises an error
    # naming absolute paths: the details must not carry either root.
    sources = [copy_source(synthetic_source, tmp_path / "a" / "source", bad_video=True),
               copy_source(synthetic_source, tmp_path / "b" / "deeper" / "src", bad_video=True)]
    (tmp_path / "b-link").symlink_to(tmp_path / "b")
    given = [sources[0], tmp_path / "b-link" / "deeper" / "src"]  # the second one reached through a symlink
    outputs = [tmp_path / "a" / "out", tmp_path / "b" / "o"]
    roots = {str(p) for p in [*sources, *given, *outputs]}
    for source, out in zip(given, outputs):
        video = f"{source.resolve()}/video_dev/{FOLDER}/{RECORDINGS[0]}.mp4"
        raise_for(monkeypatch, tasks.curate_recording, "render_recording", lambda plan: plan.recording_id,
                  RECORDINGS[0], ValueError(f"{video}: cannot render into {out.resolve()}/video_generation"))
        plain_run(source, out)
        monkeypatch.undo()

    names = sorted(p.name for p in (outputs[0] / "manifests").glob("*.parquet"))
    assert {"recordings.parquet", "clips.parquet", "events.parquet", "rejects.parquet"} <= set(names)
    assert sorted(p.name for p in (outputs[1] / "manifests").glob("*.parquet")) == names
    for name in names:
        assert (outputs[0] / "manifests" / name).read_bytes() == (outputs[1] / "manifests" / name).read_bytes(), name
    for out in outputs:
        for name in names:
            table = pq.read_table(out / "manifests" / name)
            for column in table.column_names:
                cells = [c for c in table.column(column).to_pylist() if isinstance(c, str)]
                assert not [c for c in cells if any(root in c for root in roots)], (name, column)

    rejects = manifests(outputs[0])["rejects"].set_index("recording_id")
    assert rejects.loc[BAD_VIDEO, "reason"] == "bad_video"
    assert rejects.loc[BAD_VIDEO, "detail"].startswith(f"video_dev/{FOLDER}/{BAD_VIDEO}.mp4: ")
    assert rejects.loc[RECORDINGS[0], "detail"] == \
        f"ValueError: video_dev/{FOLDER}/{RECORDINGS[0]}.mp4: cannot render into video_generation"


HOLD_LOCK = """import sys
from tasks.run_lock import OutputLock
with OutputLock(sys.argv[1], "curate"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_the_command_line_refuses_a_held_output_folder_with_exit_code_3(synthetic_source, tmp_path, capsys):
    from flows.cli import main
    from tasks.run_lock import OutputLock

    source = copy_source(synthetic_source, tmp_path / "source")
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        running = OutputLock.holder(out)
        assert running is not None
        assert main(["curate", str(source), str(out), *RECIPE_OPTIONS]) == 3
        err = capsys.readouterr().err
        assert err.startswith(f"savgbench curate: {out}: ") and running in err, err
        assert err.count("\n") == 1, err  # one line, no traceback
        assert not (out / "manifests").exists()
    finally:
        holder.stdin.close()
        holder.wait()
    assert OutputLock.holder(out) is None


@pytest.mark.slow
def test_the_command_line_exits_0_and_counts_the_rejected_recordings(synthetic_source, tmp_path, capsys):
    from flows.cli import main

    source = copy_source(synthetic_source, tmp_path / "source", bad_video=True)
    out = tmp_path / "out"
    assert main(["curate", str(source), str(out), *RECIPE_OPTIONS, "--task-runner", "threads"]) == 0
    n_clips = pq.read_metadata(out / "manifests" / "clips.parquet").num_rows
    last = capsys.readouterr().out.splitlines()[-1]
    rejects = out.resolve() / "manifests" / "rejects.parquet"
    assert last == f"recordings: 3 curated ({n_clips} clips), 1 rejected (see {rejects})"


@pytest.mark.slow
def test_the_command_line_exits_3_when_a_run_takes_the_folder_after_its_check(synthetic_source, tmp_path, capsys,
                                                                              monkeypatch):
    # The folder is free when the command line looks, taken before the flow's body gets there: the flow run fails
    # with OutputBusy, which the command line reports as it does a folder found busy.
    from flows.cli import main
    from tasks.run_lock import OutputLock

    source = copy_source(synthetic_source, tmp_path / "source")
    out = tmp_path / "out"
    monkeypatch.setattr(OutputLock, "holder", staticmethod(lambda output_dir: None))
    with OutputLock(out, "curate") as running:
        assert main(["curate", str(source), str(out), *RECIPE_OPTIONS, "--task-runner", "threads"]) == 3
        description = running.path.read_text().strip()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("savgbench curate: ")]
    assert len(lines) == 1 and lines[0].startswith(f"savgbench curate: {out}: ") and description in lines[0], lines
    assert not (out / "manifests").exists()
