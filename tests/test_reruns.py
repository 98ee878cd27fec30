"""Crashes and reruns: a run killed anywhere leaves nothing that looks complete but isn't; rerunning finishes the job
with the same bytes as an uninterrupted run; a finished run is not redone; a changed view or recording redoes only
what changed; clips rejected by visual verification are remembered under the same verification settings only, and
a verified recording's part is kept; a recording whose rendering fails in any way leaves nothing behind."""

import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import soundfile as sf

import flows.pipeline
import tasks.curate_recording
import tasks.verify
from curation.media import iter_video_frames
from curation.metric.detect import Detections
from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from data_contracts.manifests import RecordingRow
from data_contracts.recipe import load_recipe
from tasks.curate_recording import plan_part_task, plan_recording_task, render_recording_task
from tasks.discover import discover, inspect_recording
from tasks.ledger import LEDGER_DIR, Ledger, render_key, verify_key
from tasks.parts import PARTS_DIR, part_dir
from tests.helpers import MANIFEST_NAMES, PROJECT_ROOT

pytestmark = pytest.mark.slow

RECIPE = ["view_azimuths_deg=[0, 45, 90, 135, 180, 225, 270, 315]", "min_onscreen_frames=10"]
CLIP_DIRS = ("video_dev", "audio_dev", "metadata_dev", "video_eval", "audio_eval", "metadata_eval")


API_URL: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _use_prefect_server(prefect_api_url):
    API_URL["url"] = prefect_api_url


def run_cli(source: Path, out: Path, overrides=RECIPE, kill_when=None, timeout_s=600) -> bool:
    """`savgbench curate` in its own process group; with kill_when, SIGKILL the group as soon as it holds.
    Returns True when the run was killed, False when it finished (non-zero exit fails the test)."""
    args = [sys.executable, "-m", "flows.cli", "curate", str(source), str(out), "--recipe", "exhaustive"]
    for override in overrides:
        args += ["--set", override]
    env = {**os.environ, "PREFECT_API_URL": API_URL["url"]}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            cwd=PROJECT_ROOT, env=env)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if kill_when is not None and kill_when(out):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        assert time.monotonic() < deadline, "curate did not finish in time"
        time.sleep(0.02)
    assert proc.returncode == 0, proc.stderr.read().decode()[-3000:]
    return False


def clip_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for d in CLIP_DIRS if (out / d).is_dir() for p in sorted((out / d).iterdir())}


def mtimes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns
            for d in CLIP_DIRS if (out / d).is_dir() for p in sorted((out / d).iterdir())}


def assert_nothing_looks_complete_but_isnt(out: Path) -> None:
    """Files under their final names are complete; only hidden `.partial` names may be half-written."""
    for d in CLIP_DIRS:
        for path in (out / d).iterdir() if (out / d).is_dir() else ():
            if path.name.startswith("."):
                continue
            if path.suffix == ".mp4":
                assert len(list(iter_video_frames(path, 256, 256))) == 20, path
            elif path.suffix == ".wav":
                assert sf.info(path).frames == 80000, path
    for name in MANIFEST_NAMES:
        path = out / "manifests" / f"{name}.parquet"
        if path.exists():
            pq.read_table(path)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rerun-source")
    write_synthetic_dataset(root, SynthConfig(n_recordings=2, duration_s=8.0, seed=11, width_px=640, height_px=320,
                                              fps=Fraction(20)))
    return root


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rerun-reference")
    assert not run_cli(source, out)
    return out


def test_a_killed_run_resumes_to_the_same_bytes_as_an_uninterrupted_one(source, reference, tmp_path):
    out = tmp_path / "out"
    kill_points = {
        "first clip file written": lambda o: any((o / "video_dev").glob("*.mp4")) if (o / "video_dev").is_dir() else False,
        "a recording's ledger saved": lambda o: any((o / ".savgbench" / "ledger").glob("*.json"))
        if (o / ".savgbench" / "ledger").is_dir() else False,
        "a recording's part written": lambda o: any((o / PARTS_DIR).glob("*/part.json"))
        if (o / PARTS_DIR).is_dir() else False,
        "first manifest written": lambda o: (o / "manifests").is_dir() and any((o / "manifests").glob("*.parquet")),
    }
    killed_at = []
    for name, condition in kill_points.items():
        if run_cli(source, out, kill_when=condition):
            killed_at.append(name)
            assert_nothing_looks_complete_but_isnt(out)
    assert len(killed_at) >= 2, f"the run finished before the kill points were reached: {killed_at}"
    run_cli(source, out)
    for name in MANIFEST_NAMES:
        assert (out / "manifests" / f"{name}.parquet").read_bytes() == \
            (reference / "manifests" / f"{name}.parquet").read_bytes(), name
    assert clip_files(out) == clip_files(reference)
    assert not [p for p in out.rglob(".*partial*")]


def test_a_finished_run_is_not_redone(source, reference, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(reference, out)
    before = mtimes(out)
    parts_before = {p: p.stat().st_mtime_ns for p in (out / PARTS_DIR).rglob("*")}
    manifests_before = {n: (out / "manifests" / f"{n}.parquet").read_bytes() for n in MANIFEST_NAMES}
    run_cli(source, out)
    assert mtimes(out) == before, "a rerun with the same inputs and recipe rendered again"
    assert len(parts_before) == 2 * 5 and {p: p.stat().st_mtime_ns for p in (out / PARTS_DIR).rglob("*")} == \
        parts_before, "a rerun with the same inputs and recipe wrote the recordings' parts again"
    for name in MANIFEST_NAMES:
        assert (out / "manifests" / f"{name}.parquet").read_bytes() == manifests_before[name], name


def test_changing_views_renders_only_the_new_views_and_drops_the_old(source, reference, tmp_path):
    out = tmp_path / "views"
    shutil.copytree(reference, out)
    before = mtimes(out)
    run_cli(source, out, overrides=["view_azimuths_deg=[0, 90, 30]", "min_onscreen_frames=10"])
    clips = pq.read_table(out / "manifests" / "clips.parquet").to_pandas()
    assert set(clips["view_azimuth_deg"]) <= {0.0, 90.0, 30.0} and 30.0 in set(clips["view_azimuth_deg"])
    after = mtimes(out)
    for rel, mtime in after.items():
        if "_az+030_" in rel:
            assert rel not in before
        else:
            assert before[rel] == mtime, f"{rel} was rendered again"
    listed = {Path(p).name for col in ("video_path", "audio_path", "metadata_path") for p in clips[col]}
    assert {Path(rel).name for rel in after} == listed, "files of dropped views are left over"


def test_changing_one_recordings_annotations_recurates_only_it(source, reference, tmp_path):
    src = tmp_path / "source"
    shutil.copytree(source, src)
    out = tmp_path / "one-changed"
    shutil.copytree(reference, out)
    csv = next(src.glob("metadata_dev/dev-test-synth/*.csv"))
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-5]) + "\n")  # drop the last half second of events
    before = mtimes(out)
    run_cli(src, out)
    after = mtimes(out)
    changed_id = csv.stem
    for rel, mtime in after.items():
        if changed_id not in rel:
            assert before.get(rel) == mtime, f"{rel} of an unchanged recording was rendered again"
    assert any(changed_id in rel and before.get(rel) != mtime for rel, mtime in after.items())
    recordings = pq.read_table(out / "manifests" / "recordings.parquet").to_pandas().set_index("recording_id")
    assert recordings.loc[changed_id, "metadata_sha256"] != pq.read_table(
        reference / "manifests" / "recordings.parquet").to_pandas().set_index("recording_id").loc[
        changed_id, "metadata_sha256"]


ROW = RecordingRow("fold4_room91_mix001", "dev-test-synth", "generation", "foa_dev/a.wav", "video_dev/a.mp4",
                   "metadata_dev/a.csv", 8.0, "ok", None, "a" * 64, "b" * 64, "c" * 64, "h")


def test_the_ledger_remembers_verify_rejects_under_the_same_verification_settings_only(tmp_path):
    recipe = load_recipe(overrides=["verify=true", "min_visual_confirmation=0.5"])
    key = render_key(ROW, recipe)
    ledger = Ledger.load(tmp_path, ROW.recording_id, key, verify_key(recipe))
    ledger.record("a", None)
    ledger.record("b", "clipped", "peak 1.2")
    ledger.record("c", "not_visually_confirmed", "0 of 5", stage="verify")
    ledger.save()
    paths = [tmp_path / "none.mp4"]
    same = Ledger.load(tmp_path, ROW.recording_id, key, verify_key(recipe))
    assert same.clips["c"] == {"status": "rejected", "stage": "verify", "reason": "not_visually_confirmed",
                               "detail": "0 of 5"}
    assert same.done("c", paths) and same.done("b", paths) and not same.done("a", paths)
    for other in (load_recipe(overrides=["verify=true", "min_visual_confirmation=0.4"]),
                  load_recipe(overrides=["verify=true", "min_visual_confirmation=0.5", "detector_image_size_px=416"]),
                  load_recipe()):
        # Settings that only change verification keep the render key: written clips and render rejects stay.
        assert render_key(ROW, other) == key and verify_key(other) != verify_key(recipe)
        forgot = Ledger.load(tmp_path, ROW.recording_id, key, verify_key(other))
        assert sorted(forgot.clips) == ["a", "b"] and not forgot.done("c", paths)
    # A ledger written before stages: its rejects are the render stage's.
    (tmp_path / LEDGER_DIR / f"{ROW.recording_id}.json").write_text(
        '{"key": "%s", "clips": {"b": {"status": "rejected", "reason": "clipped", "detail": "x"}}}' % key)
    old = Ledger.load(tmp_path, ROW.recording_id, key, verify_key(recipe))
    assert old.clips == {"b": {"status": "rejected", "reason": "clipped", "detail": "x"}}


def loaded_recording(source: Path, recipe):
    """The first accepted recording of `source`, inspected, and its plan (plain task calls)."""
    found = discover.fn(str(source), recipe)
    source_recording, split = found.accepted[0]
    inspection = inspect_recording.fn(source_recording, split, str(source), recipe)
    assert inspection.loaded is not None, inspection.reject
    return inspection.loaded, plan_recording_task.fn(inspection.loaded, recipe)


def test_a_render_failing_with_an_unexpected_exception_leaves_nothing_of_the_recording(source, tmp_path,
                                                                                     monkeypatch):
    recipe = load_recipe(overrides=RECIPE)
    loaded, plan = loaded_recording(source, recipe)
    assert len(plan.clips) >= 2
    first = plan.clips[0].clip
    # A part and a ledger from before, which the failure must not leave claiming clips.
    plan_part_task.fn(loaded, str(tmp_path), recipe)
    assert part_dir(tmp_path, loaded.row.recording_id).is_dir()
    ledger = Ledger.load(tmp_path, loaded.row.recording_id, render_key(loaded.row, recipe), verify_key(recipe))
    ledger.record(plan.clips[1].clip.clip_id, "clipped", "peak 1.5")
    ledger.save()

    def render_then_fail(plan, audio_path, video_path, video_size_px, output_dir, recipe, **kwargs):
        for rel in (first.video_path, first.audio_path, first.metadata_path):
            (output_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (output_dir / rel).write_bytes(b"written")
        kwargs["on_clip"](plan.clips[0], None, None)
        raise KeyError("view_matrix")

    monkeypatch.setattr(tasks.curate_recording, "render_recording", render_then_fail)
    summary = render_recording_task.fn(loaded, plan, str(source), str(tmp_path), recipe)
    failure = summary.failure
    assert (failure.stage, failure.recording_id, failure.clip_id, failure.reason, failure.detail) == (
        "render", loaded.row.recording_id, None, "internal_error", "KeyError: 'view_matrix'")
    assert failure.recipe_hash == recipe.recipe_hash
    assert (summary.n_clips, summary.n_events, summary.n_rejects, summary.part_key) == (0, 0, 0, None)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and loaded.row.recording_id in p.name]
    assert not part_dir(tmp_path, loaded.row.recording_id).exists()


def no_people(calls: list[int]):
    """A detector that finds nobody, counting the pictures it is asked about."""
    def detect(frames, content_box_px):
        calls.append(len(frames))
        return Detections.empty()
    return detect


def test_verify_rejects_are_not_rendered_again_under_the_same_settings(source, tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: no_people(calls))
    monkeypatch.setattr(flows.pipeline, "recipe_detect", lambda recipe: no_people(calls))
    verified_recordings: list[int] = []  # the clips of each recording verified
    real_verify_clips = tasks.verify.verify_clips

    def counted_verify_clips(clips, *args):
        verified_recordings.append(clips.num_rows)
        return real_verify_clips(clips, *args)

    monkeypatch.setattr(tasks.verify, "verify_clips", counted_verify_clips)
    overrides = ["view_azimuths_deg=[0, 90, 180, 270]", "min_onscreen_frames=10", "verify=true"]
    recipe = load_recipe(overrides=[*overrides, "min_visual_confirmation=0.5"])

    def curate(recipe):
        calls.clear()
        verified_recordings.clear()
        with flows.pipeline.PlainTaskCaller(2) as caller:
            run = flows.pipeline.run_curation(str(source), str(tmp_path), recipe, caller)
        rejects = pq.read_table(tmp_path / "manifests" / "rejects.parquet").to_pandas()
        return run, rejects[rejects["stage"] == "verify"], sum(verified_recordings)

    first, verify_rejects, n_verified = curate(recipe)
    # Nobody found: every clip with onscreen speech is rejected, its files deleted.
    assert len(verify_rejects) > 0 and set(verify_rejects["reason"]) == {"not_visually_confirmed"}
    assert n_verified == first.n_clips + len(verify_rejects)
    # Each view frame once: at most one picture per clip frame verified, fewer where clips of a view overlap.
    assert 0 < sum(calls) <= 20 * n_verified
    assert not [p for p in tmp_path.glob("*_dev/*") if p.stem in set(verify_rejects["clip_id"])]
    rejects_bytes = (tmp_path / "manifests" / "rejects.parquet").read_bytes()

    assert len(verified_recordings) == 2
    parts = {p: p.stat().st_mtime_ns for p in (tmp_path / PARTS_DIR).rglob("*")}

    again, again_rejects, n_verified = curate(recipe)
    # The verified parts are kept: nothing is rendered or verified again.
    assert again.n_rendered_clips == 0 and n_verified == 0 and verified_recordings == []
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / PARTS_DIR).rglob("*")} == parts
    assert (tmp_path / "manifests" / "rejects.parquet").read_bytes() == rejects_bytes
    assert not [p for p in tmp_path.glob("*_dev/*") if p.stem in set(verify_rejects["clip_id"])]
    # Without the parts, only the kept clips are verified again: the rejects come from the ledger.
    shutil.rmtree(tmp_path / PARTS_DIR)
    again, again_rejects, n_verified = curate(recipe)
    assert again.n_rendered_clips == 0 and n_verified == first.n_clips and len(verified_recordings) == 2
    assert (tmp_path / "manifests" / "rejects.parquet").read_bytes() == rejects_bytes

    other, other_rejects, n_verified = curate(load_recipe(overrides=[*overrides, "min_visual_confirmation=0.4"]))
    # Other settings: the remembered rejects are rendered and verified again (and rejected again, nobody being found).
    assert other.n_rendered_clips == len(verify_rejects) and n_verified == first.n_clips + len(verify_rejects)
    assert sorted(other_rejects["clip_id"]) == sorted(verify_rejects["clip_id"])
    assert set(other_rejects["detail"].str.contains("min_visual_confirmation 0.4")) == {True}
