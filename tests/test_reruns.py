"""Crashes and reruns: a run killed anywhere leaves nothing that looks complete but isn't; rerunning finishes the job
with the same bytes as an uninterrupted run; a finished run is not redone; a changed view or recording redoes only
what changed."""

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

from curation.media import iter_video_frames
from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
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
    args = [sys.executable, "-m", "flows.cli", "curate", str(source), str(out)]
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
    manifests_before = {n: (out / "manifests" / f"{n}.parquet").read_bytes() for n in MANIFEST_NAMES}
    run_cli(source, out)
    assert mtimes(out) == before, "a rerun with the same inputs and recipe rendered again"
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
